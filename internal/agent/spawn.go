package agent

import "strings"

// spawnVars are the only variables an auto-started agent inherits: how it
// reaches STS (wire.NetEnv's and the system's CA files), where its state
// and socket live, the locale and the Go runtime's own knobs. The shell
// that happens to start it may hold BG_AGENT_FILE_PASSPHRASE, or, inside
// `bg-agent exec`, a session's AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN:
// none of that may live on in a long-running daemon.
var spawnVars = map[string]bool{
	"HTTPS_PROXY": true, "https_proxy": true, "HTTP_PROXY": true, "http_proxy": true,
	"NO_PROXY": true, "no_proxy": true, "AWS_CA_BUNDLE": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"AWS_MAX_ATTEMPTS": true, "AWS_RETRY_MODE": true,
	"HOME": true, "USER": true, "LOGNAME": true, "PATH": true, "TMPDIR": true, "TZ": true,
	"XDG_RUNTIME_DIR": true, "XDG_STATE_HOME": true, "BG_AGENT_HOME": true, "BG_AGENT_QUIET": true,
	"LANG": true, "LANGUAGE": true,
	"GODEBUG": true, "GOMAXPROCS": true, "GOGC": true, "GOMEMLIMIT": true,
	// Windows: what a process needs to start and find its profile.
	"SYSTEMROOT": true, "SystemRoot": true, "WINDIR": true, "TEMP": true, "TMP": true,
	"USERNAME": true, "USERPROFILE": true, "LOCALAPPDATA": true, "APPDATA": true, "HOMEDRIVE": true, "HOMEPATH": true,
}

// SpawnEnv is the part of environ an agent is started with.
func SpawnEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if spawnVars[k] || strings.HasPrefix(k, "LC_") {
			out = append(out, kv)
		}
	}
	return out
}
