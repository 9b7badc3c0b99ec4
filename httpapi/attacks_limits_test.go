package httpapi

var limitAttacks = []attack{}
