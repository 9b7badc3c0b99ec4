package jobs

// Check exposes Config.check to the external tests.
func (c *Config) Check() error { return c.check() }
