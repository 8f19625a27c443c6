package config

import (
	"bytes"
	"sync"
)

// Cache keeps the profiles it has loaded, per file, for as long as the
// file's bytes stay the same: the agent serves every request from the
// config file its caller names, and parsing is most of a warm request's
// own work once the file holds many profiles. Each Load still reads the
// file, so an edit — of any size, at any time — is seen at once. A nil
// *Cache loads every time.
type Cache struct {
	mu    sync.Mutex
	files map[string]*cachedFile
}

type cachedFile struct {
	data     []byte
	profiles map[string]*Profile // valid ones only: errors are found again
}

// Load is config.Load, from the cache when the file is unchanged. The
// profile returned is shared: callers must not modify it.
func (c *Cache) Load(path, name string) (*Profile, error) {
	if c == nil {
		return Load(path, name)
	}
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	f := c.files[path]
	if f != nil && bytes.Equal(f.data, data) {
		if p, ok := f.profiles[name]; ok {
			c.mu.Unlock()
			return p, nil
		}
	}
	c.mu.Unlock()
	p, err := loadFrom(path, data, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f = c.files[path]; f == nil || !bytes.Equal(f.data, data) {
		if c.files == nil {
			c.files = map[string]*cachedFile{}
		}
		f = &cachedFile{data: data, profiles: map[string]*Profile{}}
		c.files[path] = f
	}
	f.profiles[name] = p
	return p, nil
}
