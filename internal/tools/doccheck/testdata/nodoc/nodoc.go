package nodoc

// F is documented; the package is not.
func F() {}
