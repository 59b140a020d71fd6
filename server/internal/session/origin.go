package session

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SameOrigin refuses a request whose Origin (or, without one, Referer) names another host than the request's:
// a cookie session must not act for a form posted from another site. A browser sends Origin with every form
// POST; clients that are not browsers may send neither, and pass.
func SameOrigin(r *http.Request) error {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return nil
	}
	if src == "null" {
		return errors.New("cross-origin POST refused (Origin: null)")
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return fmt.Errorf("cross-origin POST refused: unreadable origin %q", src)
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("cross-origin POST refused: origin %q is not %q", u.Host, r.Host)
	}
	return nil
}
