package httpapi

var fileAttacks = []attack{}
