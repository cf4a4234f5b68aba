package register

import (
	"errors"
	"time"
)

// Config is the register block of the configuration. Whether a domain
// accepts new accounts is its host's `registration` setting; this block
// only shapes how.
type Config struct {
	// Instructions is the text of the <instructions/> element in the
	// registration form. Default "Choose a username and password for your
	// new account."
	Instructions string `yaml:"instructions"`

	// MaxPerAddress caps the accounts one client address (an IPv4
	// address, or an IPv6 /64) may register within Window; 0 removes the
	// cap. Default 5.
	MaxPerAddress int `yaml:"max_per_address"`

	// Window is the sliding period MaxPerAddress counts over. Default 1h.
	Window time.Duration `yaml:"window"`
}

func defaultConfig() Config {
	return Config{
		Instructions:  "Choose a username and password for your new account.",
		MaxPerAddress: 5,
		Window:        time.Hour,
	}
}

func (c Config) validate() error {
	switch {
	case c.MaxPerAddress < 0:
		return errors.New("register: max_per_address must not be negative")
	case c.MaxPerAddress > 0 && c.Window <= 0:
		return errors.New("register: window must be positive")
	}
	return nil
}
