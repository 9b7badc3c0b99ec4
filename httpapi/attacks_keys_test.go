package httpapi

var keyAttacks = []attack{}
