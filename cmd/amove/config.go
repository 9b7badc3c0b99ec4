package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/all"
)

// settings are what every command reads: flags win over AMOVE_* variables,
// which win over the config file.
type settings struct {
	Addr           string       `json:"addr"`
	DSN            string       `json:"dsn"`
	KeyFile        string       `json:"keyFile"`
	Roots          []string     `json:"roots"`
	TempDir        string       `json:"tempDir"`
	AllowedOrigins []string     `json:"allowedOrigins"`
	SMTP           smtpSettings `json:"smtp"`
	User           string       `json:"user"`
	// NoLocalStorage turns off the embedded "Local storage" Fastr server.
	NoLocalStorage bool `json:"noLocalStorage"`
	// TransferRetention is how long finished transfers stay listed, as a Go
	// duration ("720h"); default 30 days, negative for ever.
	TransferRetention string `json:"transferRetention"`
	// OAuth holds the app credentials per provider: "dropbox", "box",
	// "onedrive", "googledrive", "frameio" (Adobe IMS; used to refresh
	// the tokens of Frame.io accounts).
	OAuth map[string]oauthApp `json:"oauth"`
	// AllowHosts pins where the agent may send requests
	// (provider.OutboundPolicy.AllowHosts): names, *.domains, IPs, CIDRs.
	// Empty allows every host.
	AllowHosts []string `json:"allowHosts"`
	// AllowLinkLocal lets requests reach link-local (cloud metadata)
	// addresses.
	AllowLinkLocal bool `json:"allowLinkLocal"`
	// AgentID names this agent among those sharing the store's transfer
	// queue (docs/scale-out.md); default: the one kept in <data
	// dir>/agent-id, made from the host name on first start.
	AgentID string `json:"agentId"`
	// Concurrency bounds the parts or small files in flight across the
	// agent's transfers, PartSizeMiB is the part size of multipart
	// transfers (amove.TransferOptions); zero means the engine's defaults
	// (16, 16 MiB).
	Concurrency int `json:"concurrency"`
	PartSizeMiB int `json:"partSizeMiB"`

	config     string
	noVerify   bool                 // --no-verify of cp, mv, sync: amove.TransferOptions.NoDownloadChecksums
	managed    amove.ManagedOptions // serve only (managed.go)
	roots      stringList
	allowHosts stringList
}

type smtpSettings struct {
	Addr     string `json:"addr"`
	From     string `json:"from"`
	Username string `json:"username"`
	Password string `json:"password"`
}

type oauthApp struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Tenant       string `json:"tenant"` // OneDrive only; default "common"
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Type names the value in cobra's help (pflag.Value).
func (l *stringList) Type() string { return "strings" }

// flags registers the common flags on fs.
func (s *settings) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.DSN, "dsn", "", "store: sqlite:PATH or postgres://... (env AMOVE_DSN)")
	fs.StringVar(&s.KeyFile, "key-file", "", "secret key file, created with mode 0600 (env AMOVE_KEY_FILE)")
	fs.StringVar(&s.config, "config", "", "JSON config file (env AMOVE_CONFIG)")
	fs.StringVar(&s.User, "user", "", "act as this user (default admin; env AMOVE_USER)")
	fs.Var(&s.allowHosts, "allow-host", "only send requests to this host, *.domain, IP or CIDR (repeatable; env AMOVE_ALLOW_HOSTS, comma-separated)")
}

// load fills what the flags left empty from the environment and the file.
func (s *settings) load() error {
	env := func(dst *string, name string) {
		if *dst == "" {
			*dst = os.Getenv(name)
		}
	}
	env(&s.config, "AMOVE_CONFIG")
	env(&s.DSN, "AMOVE_DSN")
	env(&s.KeyFile, "AMOVE_KEY_FILE")
	env(&s.Addr, "AMOVE_ADDR")
	env(&s.User, "AMOVE_USER")
	env(&s.TransferRetention, "AMOVE_TRANSFER_RETENTION")
	env(&s.AgentID, "AMOVE_AGENT_ID")
	if s.config == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			s.config = filepath.Join(dir, "amove", "config.json")
		}
	}
	if s.config != "" {
		b, err := os.ReadFile(s.config)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return err
		default:
			var file settings
			if err := json.Unmarshal(b, &file); err != nil {
				return fmt.Errorf("config %s: %w", s.config, err)
			}
			fill(&s.Addr, file.Addr)
			fill(&s.DSN, file.DSN)
			fill(&s.KeyFile, file.KeyFile)
			fill(&s.TempDir, file.TempDir)
			fill(&s.User, file.User)
			fill(&s.TransferRetention, file.TransferRetention)
			fill(&s.AgentID, file.AgentID)
			s.Concurrency = cmp.Or(s.Concurrency, file.Concurrency)
			s.PartSizeMiB = cmp.Or(s.PartSizeMiB, file.PartSizeMiB)
			s.NoLocalStorage = s.NoLocalStorage || file.NoLocalStorage
			s.AllowLinkLocal = s.AllowLinkLocal || file.AllowLinkLocal
			if len(s.allowHosts) == 0 && os.Getenv("AMOVE_ALLOW_HOSTS") == "" {
				s.allowHosts = file.AllowHosts
			}
			if s.SMTP == (smtpSettings{}) {
				s.SMTP = file.SMTP
			}
			if len(s.AllowedOrigins) == 0 {
				s.AllowedOrigins = file.AllowedOrigins
			}
			if len(s.roots) == 0 {
				s.roots = file.Roots
			}
			s.OAuth = file.OAuth
		}
	}
	if v := os.Getenv("AMOVE_NO_LOCAL_STORAGE"); v != "" && v != "0" && v != "false" {
		s.NoLocalStorage = true
	}
	s.Roots = s.roots
	if v := os.Getenv("AMOVE_ALLOW_HOSTS"); v != "" && len(s.allowHosts) == 0 {
		s.allowHosts = strings.Split(v, ",")
	}
	s.AllowHosts = s.allowHosts
	if s.Addr == "" {
		s.Addr = "127.0.0.1:29123"
	}
	if s.User == "" {
		s.User = "admin"
	}
	return nil
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// oauthConfig collects the OAuth apps from the config file and the
// AMOVE_<PROVIDER>_CLIENT_ID / _CLIENT_SECRET variables.
func (s *settings) oauthConfig() amove.OAuthOptions {
	cfg := amove.OAuthOptions{Providers: map[provider.CloudType]oauth.Provider{}}
	for name, build := range map[string]func(app oauthApp) (provider.CloudType, oauth.Provider){
		"dropbox": func(a oauthApp) (provider.CloudType, oauth.Provider) {
			return provider.Dropbox, oauth.Dropbox(a.ClientID, a.ClientSecret)
		},
		"box": func(a oauthApp) (provider.CloudType, oauth.Provider) {
			return provider.Box, oauth.Box(a.ClientID, a.ClientSecret)
		},
		"frameio": func(a oauthApp) (provider.CloudType, oauth.Provider) {
			return provider.Frame, oauth.FrameIO(a.ClientID, a.ClientSecret)
		},
		"googledrive": func(a oauthApp) (provider.CloudType, oauth.Provider) {
			return provider.GoogleDrive, oauth.GoogleDrive(a.ClientID, a.ClientSecret)
		},
		"onedrive": func(a oauthApp) (provider.CloudType, oauth.Provider) {
			if a.Tenant == "" {
				a.Tenant = "common"
			}
			return provider.OneDrive, oauth.OneDrive(a.ClientID, a.ClientSecret, a.Tenant)
		},
	} {
		app := s.OAuth[name]
		env := "AMOVE_" + strings.ToUpper(name)
		fill(&app.ClientID, os.Getenv(env+"_CLIENT_ID"))
		fill(&app.ClientSecret, os.Getenv(env+"_CLIENT_SECRET"))
		if app.ClientID == "" {
			continue
		}
		t, p := build(app)
		cfg.Providers[t] = p
	}
	return cfg
}

// open returns a client on the configured store and key, by default those
// of the user's configuration folder (amove.OpenDefault). It runs no
// transfer: only the agent restores unfinished ones (cmdServe), since a CLI
// command sharing the store with a running agent must not run the agent's
// transfers a second time.
//
// agentID, set only by serve, makes the client an agent of the store's
// transfer queue.
func (s *settings) open(ctx context.Context, log *slog.Logger, agentID string) (*amove.Client, error) {
	var retention time.Duration
	if s.TransferRetention != "" {
		var err error
		if retention, err = time.ParseDuration(s.TransferRetention); err != nil || retention == 0 {
			return nil, fmt.Errorf("transferRetention %q: want a duration such as 720h (negative: keep for ever)", s.TransferRetention)
		}
	}
	// No transfer may read or write the agent's own files: its data folder
	// (key, keyring, admin password, database, local storage and its
	// state) and its configuration file.
	var protected []string
	for _, p := range []string{s.dataDir(), s.config} {
		if p != "" {
			protected = append(protected, p)
		}
	}
	return amove.OpenDefault(ctx, amove.Options{DSN: s.DSN, KeyFile: s.KeyFile, Logger: log, ProtectedPaths: protected,
		OAuth: s.oauthConfig(), Managed: s.managed,
		Outbound: provider.OutboundPolicy{AllowHosts: s.AllowHosts, AllowLinkLocal: s.AllowLinkLocal},
		Transfers: amove.TransferOptions{Retention: retention, AgentID: agentID,
			Concurrency: s.Concurrency, PartSize: int64(s.PartSizeMiB) << 20, NoDownloadChecksums: s.noVerify}})
}

// localAdmin returns the user the agent and CLI act for, creating the local
// tenant and its admin on first start. The generated password is printed
// once and kept in a 0600 file next to the key, for /authentication/login.
func (s *settings) localAdmin(ctx context.Context, c *amove.Client) (amove.User, error) {
	u, err := c.LookupUser(ctx, s.User)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, amove.ErrNotFound) || s.User != "admin" {
		return amove.User{}, err
	}
	pw := make([]byte, 18)
	_, _ = rand.Read(pw)
	password := base64.RawURLEncoding.EncodeToString(pw)
	_, u, err = c.CreateTenant(ctx, "local", amove.NewUser{Username: "admin", Password: password, Role: amove.RoleDesktopAdmin})
	if err != nil {
		return amove.User{}, err
	}
	path := s.passwordFile()
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			_ = os.WriteFile(path, []byte(password+"\n"), 0o600)
		}
	}
	fmt.Fprintf(os.Stderr, "created the local user \"admin\"; its password is in %s\n", path)
	return u, nil
}

func (s *settings) passwordFile() string {
	if s.KeyFile != "" {
		return filepath.Join(filepath.Dir(s.KeyFile), "admin-password")
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "amove", "admin-password")
}
