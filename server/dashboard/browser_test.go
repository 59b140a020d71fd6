package dashboard_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fastslow/fastslow/server"
	"github.com/fastslow/fastslow/server/dashboard"
)

// chromiumPath finds Debian's chromium (or CHROMIUM names one). Without it the browser test skips, except
// under CI=true, where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install chromium); CI=true requires the browser test")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// screenshotDir is where the browser test writes its screenshots: FASTSLOW_SCREENSHOTS, or a temporary
// directory of the test.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("FASTSLOW_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browse starts headless chromium for the test and returns its context.
func browse(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.DisableGPU, chromedp.NoSandbox,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// TestDashboardInBrowser drives headless chromium through every page of a dashboard, served by the real
// server (package server) as fastslow serve mounts it, over a learner with a real history (badger store, adapters trained by the in-process engine), rolls a prompt version and an
// adapter version back through the pages (click, confirm) and checks the learner changed. Screenshots go to
// FASTSLOW_SCREENSHOTS or the test's temporary directory (logged).
func TestDashboardInBrowser(t *testing.T) {
	ctx := browse(t)
	l := history(t, t.TempDir())
	reports, err := filepath.Abs("../../docs/lab")
	if err != nil {
		t.Fatal(err)
	}
	h, err := dashboard.New(dashboard.Options{Learner: l, Reports: reports})
	if err != nil {
		t.Fatal(err)
	}
	// Through the real server, as fastslow serve mounts it (the learner serves in-process: no Ollama needed).
	s, err := server.New(server.Config{Learner: l, Dashboard: h})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)

	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// step bounds one browser action: a missing element fails the test in a minute, not at the deadline.
	step := func() context.Context {
		c, cancel := context.WithTimeout(ctx, time.Minute)
		t.Cleanup(cancel)
		return c
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(step(), steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(step(), chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	eval := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return n
	}
	click := func(sel string) {
		t.Helper()
		resp, err := chromedp.RunResponse(step(), chromedp.Click(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
		if resp.Status != 200 {
			t.Fatalf("click %s: HTTP %d", sel, resp.Status)
		}
	}
	wantIn := func(where, got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q not in %q", where, w, got)
			}
		}
	}
	bg := context.Background()

	// Tasks.
	do("tasks page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#tasks")))
	wantIn("tasks", text("#tasks"), "people", "hostile", hostile)
	if n := eval(`document.querySelectorAll("script, #tasks b").length`); n != 0 {
		t.Errorf("tasks page: %d script or <b> elements: a description was not escaped", n)
	}
	wantIn("served adapter", text("#served-adapter"), "adapter version 2")
	shot("1-tasks")

	// A task's prompt versions: diff and evidence, then a rollback to version 1 through the confirm page.
	click(`a.task[href$="/people"]`)
	wantIn("task page", text("#current-version"), "version 2")
	wantIn("version 2", text("#v2"), "dashboard test", "validation score", "baseline")
	if n := eval(`document.querySelectorAll("#v2 .dadd").length`); n < 2 {
		t.Errorf("version 2 shows %d added lines, want its system text and lesson", n)
	}
	wantIn("version 2 diff", text("#v2 pre.diff"), "+ lesson", hostile)
	shot("2-task")
	click(`#v1 form.rollback button`)
	wantIn("confirm", text("#confirm-what"), "from version 2", "to version 1")
	shot("3-confirm")
	before, err := l.Store().Current(bg, "people")
	if err != nil {
		t.Fatal(err)
	}
	if before.Seq != 2 {
		t.Fatalf("the confirm page changed the store: current version %d, want 2", before.Seq)
	}
	click(`#confirm`)
	wantIn("after rollback", text("#current-version"), "version 3")
	wantIn("after rollback", text("#v3"), "rollback of version 1")
	cur, err := l.Store().Current(bg, "people")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := l.Store().Version(bg, "people", 1)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Seq != 3 || cur.Restores != 1 || cur.Candidate != v1.Candidate {
		t.Errorf("after the rollback the store's current version is %+v, want seq 3 restoring version 1", cur)
	}
	shot("4-task-rolled-back")

	// Adapter lineage: retention and forgetting per version, then serve version 1 again.
	do("adapters page", chromedp.Navigate(srv.URL+"/adapters"), chromedp.WaitVisible(chromedp.CSS("#lineage")))
	wantIn("lineage", text("#current-adapter"), "version 2")
	if n := eval(`document.querySelectorAll("#lineage tbody tr").length`); n != 3 {
		t.Errorf("lineage has %d rows, want 2 versions and the base", n)
	}
	v2 := l.Slow().Versions()[1]
	wantIn("v2 row", text("#a2 .forgetting"), fmt.Sprintf("%+.4g", v2.Before-v2.After))
	shot("5-adapters")
	click(`#a1 form.rollback button`)
	wantIn("confirm", text("#confirm-what"), "version 1", "instead of version 2")
	click(`#confirm`)
	wantIn("after adapter rollback", text("#current-adapter"), "version 1")
	if v, ok := l.Slow().Current(); !ok || v.Seq != 1 {
		t.Errorf("after the rollback the slow channel serves %+v (ok %v), want version 1", v, ok)
	}
	shot("6-adapters-rolled-back")

	// The feedback queue.
	do("feedback page", chromedp.Navigate(srv.URL+"/feedback"), chromedp.WaitVisible(chromedp.CSS("#pending-total")))
	if got := text("#pending-total"); got != "2" {
		t.Errorf("pending corrections shown %q, want 2", got)
	}
	wantIn("queue", text("table.queue"), "Beren Dun", "Dunmeris", "Quinric Sorter", "Pellmarch", hostile)
	shot("7-feedback")

	// Lab reports: the committed docs/lab report with its plots.
	do("reports page", chromedp.Navigate(srv.URL+"/reports"), chromedp.WaitVisible(chromedp.CSS("#reports")))
	shot("8-reports")
	// docs/lab also holds the reversibility experiments' reports (a few plots each), listed by modification
	// time, which a fresh checkout leaves arbitrary: open the main report by its name.
	click(`#reports a[href$="/reports/-/"]`) // "-" names the root report
	do("report", chromedp.WaitVisible(chromedp.CSS("article.report table")))
	imgs := eval(`document.querySelectorAll("article.report img").length`)
	broken := eval(`[...document.querySelectorAll("article.report img")].filter(i => !(i.complete && i.naturalWidth > 0)).length`)
	if imgs < 10 || broken != 0 {
		t.Errorf("report shows %d images, %d of them not loaded", imgs, broken)
	}
	shot("9-report")

	// The same learner behind the server's token, as on a non-loopback bind: without credentials every page
	// is refused (401, the login form as the body). A person types the token into that form once; the
	// browser then carries only the session cookie (no header set by the test), the pages work and a
	// rollback goes through both the server's and the dashboard's checks. Logging out ends it.
	const token = "dash-test-token"
	th, err := dashboard.New(dashboard.Options{Learner: l, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := server.New(server.Config{Learner: l, Dashboard: th, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	tsrv := httptest.NewServer(ts)
	defer tsrv.Close()
	status := func(u string) int64 {
		t.Helper()
		resp, err := chromedp.Run(step(), chromedp.NavigateResponse(u))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	if got := status(tsrv.URL + "/adapters"); got != 401 {
		t.Errorf("the dashboard behind a token, without it: HTTP %d, want 401", got)
	}
	do("login form", chromedp.WaitVisible(chromedp.CSS("#login form")))
	shot("10-login")
	do("wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"), chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	wantIn("wrong token", text("#login-error"), "not the server's token")
	do("log in", chromedp.SendKeys(chromedp.CSS("#token"), token))
	click("#login-submit") // back to /adapters, which the form was shown for
	do("adapters after login", chromedp.WaitVisible(chromedp.CSS("#lineage")))
	cookie := eval(`document.cookie.length`) // HttpOnly: the page's script cannot read it
	if cookie != 0 {
		t.Errorf("the session cookie is readable from the page (%d characters of document.cookie)", cookie)
	}
	click(`#a0 form.rollback button`)
	wantIn("confirm", text("#confirm-what"), "the base model alone", "instead of version 1")
	click(`#confirm`)
	wantIn("after rollback to the base", text("#current-adapter"), "the base model")
	if v, ok := l.Slow().Current(); ok {
		t.Errorf("after the rollback to the base the slow channel serves version %d", v.Seq)
	}
	shot("11-adapters-logged-in")
	do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login form")))
	if got := status(tsrv.URL + "/feedback"); got != 401 {
		t.Errorf("after logging out: HTTP %d, want 401", got)
	}
}
