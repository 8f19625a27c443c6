package chain

import (
	"context"
	"os"
	"sync"
)

// ClientCache keeps one set of STS clients per profile, rebuilt when the
// config file changes, sharing HTTP clients (and their kept-alive
// connections) between profiles that trust the same CAs. The agent keeps
// one for its life; a direct run makes one per run.
type ClientCache struct {
	mu     sync.Mutex
	m      map[string]*Clients
	shared Transports
}

// Get returns the clients for profile of file.
func (cc *ClientCache) Get(ctx context.Context, file, profile string) (*Clients, error) {
	key := file + "\x00" + profile
	if st, err := os.Stat(file); err == nil {
		key += "\x00" + st.ModTime().String()
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c, ok := cc.m[key]; ok {
		return c, nil
	}
	c, err := NewClients(ctx, ClientOptions{ConfigFile: file, Profile: profile, Shared: &cc.shared})
	if err != nil {
		return nil, err
	}
	if cc.m == nil {
		cc.m = map[string]*Clients{}
	}
	cc.m[key] = c
	return c, nil
}
