package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amove/amove-go"
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

func (a *app) agentsCmd() *cobra.Command {
	return &cobra.Command{Use: "agents", Short: "List the agents sharing the store's transfers, their queues and last heartbeat", Args: nArgs(0, 0),
		Example: "  amove agents --dsn postgres://amove@db/amove\n  amove agents --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				agents, err := se.c.Agents(ctx, se.p)
				if err != nil {
					return err
				}
				if a.json {
					type agentJSON struct {
						ID        string    `json:"id"`
						State     string    `json:"state"`
						Queues    []string  `json:"queues"`
						Started   time.Time `json:"started"`
						Heartbeat time.Time `json:"heartbeat"`
						Stopped   time.Time `json:"stopped,omitzero"`
					}
					out := make([]agentJSON, 0, len(agents))
					for _, ag := range agents {
						out = append(out, agentJSON{ag.ID, agentState(ag, time.Now()), ag.Queues, ag.Started, ag.Heartbeat, ag.Stopped})
					}
					return a.writeJSON(out)
				}
				tw := a.table()
				fmt.Fprintln(tw, "AGENT\tSTATE\tLAST HEARTBEAT\tSTARTED\tQUEUES")
				now := time.Now()
				for _, ag := range agents {
					fmt.Fprintf(tw, "%s\t%s\t%s ago\t%s\t%s\n", ag.ID, agentState(ag, now), now.Sub(ag.Heartbeat).Round(time.Second),
						ag.Started.Local().Format(time.DateTime), strings.Join(ag.Queues, ","))
				}
				return tw.Flush()
			})
		}}
}

// agentState is running, stopped (cleanly) or lost (no heartbeat for a
// minute: it died).
func agentState(ag amove.Agent, now time.Time) string {
	switch {
	case !ag.Stopped.IsZero():
		return "stopped"
	case now.Sub(ag.Heartbeat) > time.Minute:
		return "lost"
	}
	return "running"
}
