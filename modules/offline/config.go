package offline

import "fmt"

// Config is the offline block of the configuration.
type Config struct {
	// MaxPerUser is the most messages kept for one user; a message past it
	// is bounced with service-unavailable. Default 1000.
	MaxPerUser int `yaml:"max_per_user"`
}

func defaultConfig() Config { return Config{MaxPerUser: 1000} }

func (c Config) validate() error {
	if c.MaxPerUser < 1 {
		return fmt.Errorf("offline: max_per_user must be at least 1, not %d", c.MaxPerUser)
	}
	return nil
}
