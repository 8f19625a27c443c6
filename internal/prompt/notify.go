package prompt

import (
	"os/exec"
	"time"
)

// Notifier returns a func that shows a desktop notification without
// waiting for it (notify-send on Linux and the BSDs, osascript on macOS, a
// PowerShell balloon on Windows), or nil when env has none.
func Notifier(env Env) func(title, body string) {
	if !env.Display || env.LookPath == nil {
		return nil
	}
	var prog string
	var args func(title, body string) ([]string, []string)
	switch env.GOOS {
	case "darwin":
		prog = "osascript"
		args = func(title, body string) ([]string, []string) {
			return []string{"-e", "on run argv", "-e",
				`display notification (item 2 of argv) with title (item 1 of argv) sound name "Ping"`,
				"-e", "end run", title, body}, nil
		}
	case "windows":
		prog = "powershell.exe"
		args = func(title, body string) ([]string, []string) {
			return []string{"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encodePS(psBalloon)},
				[]string{"BG_PROMPT_TITLE=" + title, "BG_PROMPT_TEXT=" + body}
		}
	default:
		prog = "notify-send"
		args = func(title, body string) ([]string, []string) {
			return []string{"--app-name=bg-agent", "--urgency=critical", "--expire-time=15000", title, body}, nil
		}
	}
	path, err := env.LookPath(prog)
	if err != nil {
		return nil
	}
	return func(title, body string) {
		a, e := args(title, body)
		cmd := exec.Command(path, a...)
		if e != nil {
			cmd.Env = append(cmd.Environ(), e...)
		}
		if cmd.Start() != nil {
			return
		}
		go func() {
			t := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
			cmd.Wait()
			t.Stop()
		}()
	}
}

// psBalloon shows a tray balloon for 15 s.
const psBalloon = `Add-Type -AssemblyName System.Windows.Forms
$n = New-Object System.Windows.Forms.NotifyIcon
$n.Icon = [System.Drawing.SystemIcons]::Warning; $n.Visible = $true
$n.ShowBalloonTip(15000, $env:BG_PROMPT_TITLE, $env:BG_PROMPT_TEXT, 'Warning')
Start-Sleep -Seconds 15; $n.Dispose()`
