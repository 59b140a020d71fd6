package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server/dashboard"
)

// A dashboard for a learner, mounted under /dash/ of a server of one's own (fastslow serve mounts it at /).
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "dashboard-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	learner, err := fastslow.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer learner.Close()
	if _, err := learner.Feedback(ctx, fastslow.Correction{Task: "people", Input: "Q: Where was Beren Dun born?\nA:", Output: " Saldune", Answer: "Dunmeris"}); err != nil {
		log.Fatal(err)
	}

	d, err := dashboard.New(dashboard.Options{Learner: learner, Base: "/dash/", Reports: "fastslow-report"})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dash/", http.StripPrefix("/dash", d))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/dash/feedback")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	fmt.Println(regexp.MustCompile(`<title>.*</title>`).FindString(string(page)))
	fmt.Println(regexp.MustCompile(`<b id="pending-total">\d+</b> corrections wait`).FindString(string(page)))
	// Output:
	// 200 OK
	// <title>Feedback queue · fastslow</title>
	// <b id="pending-total">1</b> corrections wait
}
