package docs_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// Every relative link in README.md and docs/ resolves: to a file or
// directory in the repository, and a link with a #fragment to a heading of
// its Markdown file, as GitHub makes anchors from headings. The docs link to
// code (providers/stripe.go) and to each other, and files move: a link that
// points nowhere is a reader sent nowhere.
func TestRelativeLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, file := range files {
		problems, n := checkFile(root, file)
		links += n
		for _, p := range problems {
			t.Error(p)
		}
	}
	if links < 50 {
		t.Errorf("got %d relative links in %d files, want the docs' links found (is the link pattern broken?)", links, len(files))
	}
}

// The checker itself: a test that cannot fail would prove nothing.
func TestLinkCheckerFindsBrokenLinks(t *testing.T) {
	root := t.TempDir()
	write := func(path, text string) {
		t.Helper()
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("code/main.go", "package main\n")
	write("docs/other.md", "# Other\n\n## Looking further (`STRIPE_API_KEY`)\n\n## Twice\n\n## Twice\n")
	write("docs/page.md", strings.Join([]string{
		"# Page",
		"[ok](other.md) [ok](other.md#looking-further-stripe_api_key) [ok](other.md#twice-1)",
		"[ok](../code/main.go) [ok](../code/) [ok](#page) [ok](https://example.com/nowhere)",
		"`[not a link](nowhere.md)`",
		"```",
		"[not a link](nowhere.md)",
		"```",
		"[missing](nowhere.md)",
		"[bad anchor](other.md#looking-further)",
		"[bad own anchor](#nowhere)",
		"[anchor in code](../code/main.go#L1)",
		"[outside](../../etc/passwd)",
		"[ref]: missing-ref.md",
	}, "\n")+"\n")

	problems, n := checkFile(root, filepath.Join(root, "docs", "page.md"))
	if n != 12 {
		t.Errorf("got %d relative links, want 12", n)
	}
	want := []string{"nowhere.md", "other.md#looking-further", "#nowhere", "../code/main.go#L1", "../../etc/passwd", "missing-ref.md"}
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for _, link := range want {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "("+link+")") }) {
			t.Errorf("got no problem with (%s), want one; got:\n%s", link, strings.Join(problems, "\n"))
		}
	}
}

func TestAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"Deploy to Fly.io in five minutes":                              "deploy-to-flyio-in-five-minutes",
		"Looking further (`STRIPE_API_KEY`)":                            "looking-further-stripe_api_key",
		"gin v1.10.1, built with `-tags nomsgpack`":                     "gin-v1101-built-with--tags-nomsgpack",
		"Generic endpoint (Auth0, Firebase, Better Auth, your backend)": "generic-endpoint-auth0-firebase-better-auth-your-backend",
		"A link: [the page](page.md)":                                   "a-link-the-page",
		"/admin":                                                        "admin",
		"Paddle Billing (conversion only)":                              "paddle-billing-conversion-only",
		"stripe/":                                                       "stripe",
	} {
		if got := anchor(heading); got != want {
			t.Errorf("anchor(%q): got %q, want %q", heading, got, want)
		}
	}
}

var (
	// inlineLink matches [text](target) and ![alt](target), with an optional
	// title after the target.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// refDefinition matches a reference definition: [label]: target.
	refDefinition = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	codeSpan      = regexp.MustCompile("`+[^`]*`+")
	scheme        = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	atxHeading    = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$`)
)

// checkFile returns a problem for each relative link in the Markdown file
// that does not resolve inside root, and how many relative links it has.
func checkFile(root, file string) (problems []string, links int) {
	lines, err := markdownLines(file)
	if err != nil {
		return []string{err.Error()}, 0
	}
	rel, _ := filepath.Rel(root, file)
	for i, line := range lines {
		if line == "" {
			continue
		}
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			targets = append(targets, m[1])
		}
		if m := refDefinition.FindStringSubmatch(line); m != nil {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if scheme.MatchString(target) {
				continue
			}
			links++
			if err := resolve(root, file, target); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: (%s): %v", rel, i+1, target, err))
			}
		}
	}
	return problems, links
}

// markdownLines returns the file's lines with fenced code blocks and code
// spans blanked, so that what looks like a link in code is not taken for one.
func markdownLines(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	fence := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			line = ""
		case strings.HasPrefix(trimmed, "```"), strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
			line = ""
		default:
			line = codeSpan.ReplaceAllString(line, "")
		}
		lines = append(lines, line)
	}
	return lines, sc.Err()
}

// resolve checks one relative link target of file.
func resolve(root, file, target string) error {
	path, fragment, _ := strings.Cut(target, "#")
	path, err := url.PathUnescape(path)
	if err != nil {
		return err
	}
	dest := file
	if path != "" {
		dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
		if rel, err := filepath.Rel(root, dest); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("points outside the repository")
		}
		if _, err := os.Stat(dest); err != nil {
			return fmt.Errorf("no such file in the repository")
		}
	}
	if fragment == "" {
		return nil
	}
	if !strings.HasSuffix(dest, ".md") {
		return fmt.Errorf("an anchor into a file that is not Markdown, which GitHub's anchors do not reach reliably")
	}
	anchors, err := anchors(dest)
	if err != nil {
		return err
	}
	if !slices.Contains(anchors, fragment) {
		return fmt.Errorf("no heading makes the anchor #%s (anchors: %s)", fragment, strings.Join(anchors, " "))
	}
	return nil
}

// anchors lists the anchors GitHub makes for a Markdown file's headings: a
// repeated one gets -1, -2, ... appended.
func anchors(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	seen := map[string]int{}
	fence := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		case strings.HasPrefix(trimmed, "```"), strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
			continue
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := anchor(m[2])
		if n := seen[a]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", a, n))
		} else {
			out = append(out, a)
		}
		seen[a]++
	}
	return out, sc.Err()
}

// anchor is GitHub's anchor for a heading: its text (links reduced to their
// text, code spans to their content), lower-cased, with every character but
// letters, digits, spaces, hyphens and underscores dropped, and each space
// made a hyphen.
func anchor(heading string) string {
	text := inlineLink.ReplaceAllStringFunc(heading, func(link string) string {
		text, _, _ := strings.Cut(strings.TrimPrefix(link, "!")[1:], "](")
		return text
	})
	text = strings.ReplaceAll(text, "`", "")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-', r == '_', unicode.IsLetter(r), unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
