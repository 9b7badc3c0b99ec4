package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

// agentIDRE is the rule an agent id follows (it names the agent's queue).
var agentIDRE = regexp.MustCompile(`^[a-z0-9]+(?:[_-]?[a-z0-9]+)*$`)

// agentID returns this agent's id: the flag, environment or config file's,
// or the one kept in <data dir>/agent-id, made from the host name on the
// first start so that it stays the same across restarts.
func (s *settings) agentID() (string, error) {
	if s.AgentID != "" {
		if len(s.AgentID) > 50 || !agentIDRE.MatchString(s.AgentID) {
			return "", fmt.Errorf("agent id %q: lower-case letters and digits with single '-' or '_' between them, at most 50", s.AgentID)
		}
		return s.AgentID, nil
	}
	dir := s.dataDir()
	if dir == "" {
		return "", errors.New("no data folder to keep the agent id in: set -agent-id")
	}
	path := filepath.Join(dir, "agent-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); agentIDRE.MatchString(id) {
			return id, nil
		}
		return "", fmt.Errorf("%s does not hold a valid agent id: fix or remove it", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := hostAgentID()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// hostAgentID makes an agent id from the host name, with a random suffix
// so that two machines of one name (clones) do not share a queue.
func hostAgentID() string {
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 40 {
		name = strings.Trim(name[:40], "-")
	}
	if name == "" {
		name = "agent"
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix) // never fails (crypto/rand)
	return name + "-" + hex.EncodeToString(suffix)
}

// cmdAgents lists the agents that ever ran transfers on the store.
func cmdAgents(ctx context.Context, args []string, w io.Writer) error {
	s, _, err := parse("agents", args, nil)
	if err != nil {
		return err
	}
	se, err := openSession(ctx, s)
	if err != nil {
		return err
	}
	defer se.c.Close()
	agents, err := se.c.Agents(ctx, se.p)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tSTATE\tLAST HEARTBEAT\tSTARTED\tQUEUES")
	now := time.Now()
	for _, a := range agents {
		state := "running"
		switch {
		case !a.Stopped.IsZero():
			state = "stopped"
		case now.Sub(a.Heartbeat) > time.Minute:
			state = "lost" // no heartbeat for a minute: it died
		}
		fmt.Fprintf(tw, "%s\t%s\t%s ago\t%s\t%s\n", a.ID, state, now.Sub(a.Heartbeat).Round(time.Second),
			a.Started.Local().Format(time.DateTime), strings.Join(a.Queues, ","))
	}
	return tw.Flush()
}
