package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// A report is named by its directory below Options.Reports: "-" for a report.md in Reports itself.
const rootReport = "-"

// maxReport bounds the size of a report.md the dashboard renders.
const maxReport = 8 << 20

type reportRow struct {
	Name     string
	Title    string
	Modified time.Time
	Images   int
}

type reportsData struct {
	Dir     string
	Reports []reportRow
}

// listReports finds the report.md files in Reports and its direct subdirectories.
func (h *Handler) listReports() ([]reportRow, error) {
	if h.opt.Reports == "" {
		return nil, nil
	}
	dirs := []string{rootReport}
	ents, err := os.ReadDir(h.opt.Reports)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no lab has written there yet
	}
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != rootReport {
			dirs = append(dirs, e.Name())
		}
	}
	var out []reportRow
	for _, d := range dirs {
		dir, err := h.reportDir(d)
		if err != nil {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, "report.md"))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		row := reportRow{Name: d, Title: d, Modified: fi.ModTime().UTC()}
		if t := reportTitle(filepath.Join(dir, "report.md")); t != "" {
			row.Title = t
		}
		pngs, _ := filepath.Glob(filepath.Join(dir, "*.png"))
		row.Images = len(pngs)
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b reportRow) int { return b.Modified.Compare(a.Modified) })
	return out, nil
}

// reportTitle is the first heading of a report.md, if it has one near the top.
func reportTitle(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := f.Read(buf)
	for _, l := range strings.Split(string(buf[:n]), "\n") {
		if t, ok := strings.CutPrefix(l, "# "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

func (h *Handler) reports(w http.ResponseWriter, r *http.Request) {
	rs, err := h.listReports()
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	h.render(w, r, http.StatusOK, "reports", "Lab reports", reportsData{Dir: h.opt.Reports, Reports: rs})
}

// reportDir resolves a report name to its directory, refusing anything but Reports itself or one of its direct
// subdirectories.
func (h *Handler) reportDir(name string) (string, error) {
	if h.opt.Reports == "" {
		return "", errors.New("no report directory is configured")
	}
	if name != rootReport && (name == "" || name == ".." || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".")) {
		return "", fmt.Errorf("no report %q", name)
	}
	if name == rootReport {
		return h.opt.Reports, nil
	}
	return filepath.Join(h.opt.Reports, name), nil
}

type reportData struct {
	Name string
	HTML template.HTML
}

// markdown renders report.md: GitHub tables, no raw HTML (goldmark drops it and dangerous link targets unless
// told otherwise).
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("report")
	dir, err := h.reportDir(name)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, err)
		return
	}
	src, err := readRegular(filepath.Join(dir, "report.md"), maxReport)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, err)
		return
	}
	var b bytes.Buffer
	if err := markdown.Convert(src, &b); err != nil {
		h.fail(w, r, http.StatusInternalServerError, fmt.Errorf("report %s: %w", name, err))
		return
	}
	// goldmark escapes text and omits raw HTML, so its output is safe to embed.
	h.render(w, r, http.StatusOK, "report", "Report "+name, reportData{Name: name, HTML: template.HTML(b.String())})
}

// reportFile serves a report's PNG images (nothing else from the directory).
func (h *Handler) reportFile(w http.ResponseWriter, r *http.Request) {
	dir, err := h.reportDir(r.PathValue("report"))
	if err != nil {
		h.fail(w, r, http.StatusNotFound, err)
		return
	}
	file := r.PathValue("file")
	if !strings.HasSuffix(file, ".png") || strings.ContainsAny(file, `/\`) || strings.HasPrefix(file, ".") {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("no image %q (the dashboard serves a report's .png files)", file))
		return
	}
	data, err := readRegular(filepath.Join(dir, file), 64<<20)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(data)
}

// readRegular reads a regular file of at most limit bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", filepath.Base(path))
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", filepath.Base(path))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the dashboard's limit of %d", filepath.Base(path), fi.Size(), limit)
	}
	return os.ReadFile(path)
}
