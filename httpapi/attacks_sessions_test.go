package httpapi

var sessionAttacks = []attack{}
