//go:build !unix

package audit

func isQuota(error) bool { return false }
