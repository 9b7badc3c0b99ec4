package httpapi

var tokenAttacks = []attack{}
