//go:build !unix

package diskspace

import "errors"

func statfs(string) (Space, error) {
	return Space{}, errors.New("free space is not known on this system")
}
