package childproc

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestStartStopAndLogs(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(t.Context(), "sleeper", dir, "sh", "-c", "echo started; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(Tail(dir+"/sleeper.log", 5), "started") {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed the output: %s", Tail(dir+"/sleeper.log", 5))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Exited(); err != nil {
		t.Fatalf("running process reported as exited: %v", err)
	}
	p.Stop()
	if err := p.Exited(); err == nil {
		t.Fatal("Stop returned but the process still runs")
	}
	if _, err := os.FindProcess(p.Pid()); err != nil {
		t.Fatal(err)
	}
}

func TestWaitReportsAnEarlyExit(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(t.Context(), "crasher", dir, "sh", "-c", "echo 'bad flag --x'; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	err = p.WaitTCP(t.Context(), "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "crasher exited early") || !strings.Contains(err.Error(), "bad flag --x") {
		t.Fatalf("WaitTCP = %v, want the early exit with the log's last lines", err)
	}
}

func TestStartNamesAMissingBinary(t *testing.T) {
	_, err := Start(t.Context(), "ghost", t.TempDir(), t.TempDir()+"/no-such-binary")
	if err == nil || !strings.Contains(err.Error(), "starting ghost") {
		t.Fatalf("Start = %v, want an error naming the process", err)
	}
}
