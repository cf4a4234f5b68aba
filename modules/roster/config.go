package roster

import "errors"

// Config is the roster block of the configuration.
type Config struct {
	// MaxNameLength is the longest item name (the 'name' attribute), in
	// bytes, a roster set may store; a longer one is refused with
	// not-acceptable (RFC 6121 §2.3.3). Default 1023.
	MaxNameLength int `yaml:"max_name_length"`

	// MaxGroupLength is the longest group name, in bytes; a longer one is
	// refused with not-acceptable. Default 1023.
	MaxGroupLength int `yaml:"max_group_length"`
}

func defaultConfig() Config {
	return Config{MaxNameLength: 1023, MaxGroupLength: 1023}
}

func (c Config) validate() error {
	switch {
	case c.MaxNameLength <= 0:
		return errors.New("roster: max_name_length must be positive")
	case c.MaxGroupLength <= 0:
		return errors.New("roster: max_group_length must be positive")
	}
	return nil
}
