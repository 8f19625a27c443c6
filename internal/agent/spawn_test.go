package agent

import (
	"slices"
	"testing"
)

func TestSpawnEnvKeepsOnlyWhatTheAgentNeeds(t *testing.T) {
	got := SpawnEnv([]string{
		"HTTPS_PROXY=http://proxy:3128", "AWS_CA_BUNDLE=/ca.pem", "HOME=/home/a", "XDG_RUNTIME_DIR=/run/user/1",
		"LC_ALL=C.UTF-8", "PATH=/usr/bin",
		"BG_AGENT_FILE_PASSPHRASE=hunter2", "AWS_SECRET_ACCESS_KEY=s3cr3t", "AWS_SESSION_TOKEN=tok",
		"AWS_ACCESS_KEY_ID=ASIA", "BG_AGENT_PROFILE=bg-prod", "AWS_PROFILE=x", "SSH_AUTH_SOCK=/tmp/ssh",
	})
	want := []string{"HTTPS_PROXY=http://proxy:3128", "AWS_CA_BUNDLE=/ca.pem", "HOME=/home/a", "XDG_RUNTIME_DIR=/run/user/1",
		"LC_ALL=C.UTF-8", "PATH=/usr/bin"}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
