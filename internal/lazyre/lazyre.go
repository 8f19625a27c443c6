// Package lazyre holds regular expressions that compile on first use.
//
// Every package-level regexp.MustCompile runs at every start of the binary,
// including each `bg-agent process` that the AWS CLI execs for every call,
// where most patterns are never used (and counted repetitions such as
// {1,64} unroll at compile time: a handful cost about a millisecond).
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a *regexp.Regexp compiled on first use; safe for concurrent use.
type Regexp struct {
	get func() *regexp.Regexp
}

// New returns a Regexp for pattern; an invalid pattern panics at first use,
// as regexp.MustCompile would at init (the tests of each user exercise it).
func New(pattern string) *Regexp {
	return &Regexp{get: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })}
}

func (l *Regexp) MatchString(s string) bool            { return l.get().MatchString(s) }
func (l *Regexp) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
func (l *Regexp) FindAllStringSubmatchIndex(s string, n int) [][]int {
	return l.get().FindAllStringSubmatchIndex(s, n)
}
func (l *Regexp) FindAllStringSubmatch(s string, n int) [][]string {
	return l.get().FindAllStringSubmatch(s, n)
}
