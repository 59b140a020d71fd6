package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/server"
	"github.com/fastslow/fastslow/server/dashboard"
)

func newServeCmd() *cobra.Command {
	var (
		asJSON     bool
		flushAfter int
		flushEvery time.Duration
		reports    string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the learner's tasks to any Ollama or OpenAI client, and learn from their feedback",
		Long: `Serve listens on serve_addr (127.0.0.1:11435 by default) and speaks Ollama's API (/api/chat, /api/generate,
/api/tags, /api/show, /api/version) and OpenAI's (/v1/chat/completions, /v1/models). A model named after a task,
TASK (a task the learner has) or fastslow/TASK (any task), is answered with the task's promoted prompt and the
promoted adapter or merged model on the Ollama server at host; every other model and route passes through to that
server unchanged. Each answer carries an id (header X-Fastslow-Id, JSON field fastslow_id):

  curl -s localhost:11435/fastslow/feedback -d '{"id":"fs-...","score":0,"answer":"Saldune"}'

records feedback on it (GET /fastslow/answers lists recent answers with their ids). Corrections are learned by the prompt channel at once and by a weight round in the
background (after --flush-after corrections of a task, or when the oldest has waited --flush-every); answers never
wait for a round. A host other than loopback needs serve_token (FASTSLOW_SERVE_TOKEN), then required on every route
as "Authorization: Bearer TOKEN". The dashboard at / shows the tasks, their prompt versions, the adapter versions,
the corrections waiting for a weight round and the lab reports in --reports, and rolls versions back.
Ctrl-C stops the server (exit 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			if flushAfter < 0 || flushEvery < 0 {
				return usagef("--flush-after and --flush-every must not be negative")
			}
			if err := server.CheckBind(l.ServeAddr, l.ServeToken); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			c, err := client(l)
			if err != nil {
				return err
			}
			if err := c.Ping(ctx); err != nil {
				return fmt.Errorf("serve passes other models through to Ollama: %w", err)
			}
			out := cmd.OutOrStdout()
			events := func(e fastslow.Event) {
				if e.Stage != "round" && e.Stage != "done" && e.Stage != "failed" && e.Stage != "promoted" && e.Stage != "kept" {
					return
				}
				if asJSON {
					_ = json.NewEncoder(out).Encode(map[string]string{"event": e.Stage, "task": e.Task, "message": e.Message})
					return
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s %s: %s: %s\n", time.Now().Format("15:04:05"), e.Task, e.Stage, escapeControl(e.Message))
			}
			learner, err := openLearner(cmd, l, func(o *fastslow.Options) {
				o.Flush = fastslow.FlushPolicy{After: flushAfter, Every: flushEvery}
				o.Events = events
			})
			if err != nil {
				return err
			}
			defer learner.Close()
			dash, err := dashboard.New(dashboard.Options{Learner: learner, Reports: reports, Token: l.ServeToken})
			if err != nil {
				return err
			}
			srv, err := server.New(server.Config{Learner: learner, Ollama: c, Token: l.ServeToken, MaxBody: int64(l.MaxBody), Dashboard: dash})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", l.ServeAddr)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			url := "http://" + ln.Addr().String()
			if asJSON {
				err = json.NewEncoder(out).Encode(map[string]any{"listening": url, "ollama": c.Host(), "policy": learner.Policy().Name(), "token": l.ServeToken != ""})
			} else {
				_, err = fmt.Fprintf(out, "fastslow serving on %s (tasks as TASK or fastslow/TASK, other models from Ollama at %s; policy %s)\n", url, c.Host(), learner.Policy().Name())
			}
			if err != nil {
				ln.Close()
				return err
			}
			err = srv.Serve(ctx, ln)
			if errors.Is(err, server.ErrNeedToken) {
				return usageError{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	config.AddFlagAs(f, "addr", "serve_addr", "")
	config.AddFlag(f, "max_body")
	config.AddFlag(f, "model")
	config.AddFlag(f, "policy")
	d := fastslow.DefaultOptions().Flush
	f.IntVar(&flushAfter, "flush-after", d.After, "start a task's weight round in the background after this many corrections (0: not by count)")
	f.DurationVar(&flushEvery, "flush-every", d.Every, "start a task's weight round once its oldest correction has waited this long (0: not by time)")
	f.StringVar(&reports, "reports", "fastslow-report", "directory of lab reports the dashboard at / shows (fastslow lab --out)")
	f.BoolVar(&asJSON, "json", false, "print the address and the learning rounds as JSON lines")
	return cmd
}
