package httpapi

var outboundAttacks = []attack{}
