package wire

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// NetEnv is what of a process's environment decides how the chain reaches
// STS: the proxy for HTTPS as net/http reads it (HTTPS_PROXY, else
// https_proxy; NO_PROXY, else no_proxy), the CA bundle and the SDK's retry
// settings. The agent fetches with its own — that of the shell that started
// it, or of its service unit — so a client whose NetEnv differs would get
// credentials fetched another way than its shell says, or none when only
// its proxy reaches STS. The agent refuses such a request and the client
// runs the chain itself, saying why.
type NetEnv map[string]string

// netEnvVars: the name reported, then the names read, in order.
var netEnvVars = [][]string{
	{"HTTPS_PROXY", "https_proxy"},
	{"NO_PROXY", "no_proxy"},
	{"AWS_CA_BUNDLE"},
	{"SSL_CERT_FILE"}, // Go's system roots: another corporate CA bundle
	{"SSL_CERT_DIR"},
	{"AWS_MAX_ATTEMPTS"},
	{"AWS_RETRY_MODE"},
}

// NetEnvFrom reads a NetEnv with getenv; unset variables are absent.
func NetEnvFrom(getenv func(string) string) NetEnv {
	e := NetEnv{}
	for _, names := range netEnvVars {
		for _, n := range names {
			if v := getenv(n); v != "" {
				e[names[0]] = v
				break
			}
		}
	}
	return e
}

// Diff describes how client (this NetEnv) and agent differ, one
// "NAME: X here, Y in the agent" per variable, in name order; nil when they
// agree. Proxy passwords are never shown.
func (client NetEnv) Diff(agent NetEnv) []string {
	var out []string
	for _, names := range netEnvVars {
		n := names[0]
		if client[n] == agent[n] {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s here, %s in the agent", n, shown(n, client[n]), shown(n, agent[n])))
	}
	sort.Strings(out)
	return out
}

func shown(name, v string) string {
	if v == "" {
		return "unset"
	}
	if strings.HasSuffix(name, "_PROXY") && name != "NO_PROXY" {
		if u, err := url.Parse(v); err == nil && u.User != nil {
			return u.Redacted()
		}
	}
	return v
}

// Mismatch is the agent's refusal, as the client shows it.
func Mismatch(diff []string) string {
	return "it runs with other network settings than this shell (" + strings.Join(diff, "; ") +
		"); stop it (bg-agent agent stop) so the next call starts one from this environment, or set the same in its service unit"
}
