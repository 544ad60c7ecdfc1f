package query

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Search is a log search: the newest records of one topic matching a time window, a text and
// field equalities. It compiles to SQL, so it is planned and pruned like any statement.
type Search struct {
	Topic    string
	From, To time.Time     // [From, To); zero: open
	Text     string        // case-insensitive substring of the value ("" matches all)
	Where    []FieldMatch  // all must hold
	Limit    int           // newest records returned
	Bucket   time.Duration // histogram bucket width; 0: no histogram
}

// FieldMatch is field=value: a JSON path into the value (a.b.c), or key or partition.
type FieldMatch struct{ Field, Value string }

// Search limits.
const (
	DefaultSearchLimit = 100
	maxSearchWhere     = 16
	minBucket          = time.Second
)

var fieldRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// ParseSearch reads a search from URL query parameters: topic, from, to (RFC 3339, Unix
// milliseconds, or a duration before now such as 1h), q, where (repeated, field=value), limit and
// histogram (a bucket width such as 1m). now is the time durations count back from.
func ParseSearch(v url.Values, now time.Time, maxLimit int) (Search, error) {
	s := Search{Topic: v.Get("topic"), Text: v.Get("q"), Limit: DefaultSearchLimit}
	if s.Topic == "" {
		return s, fmt.Errorf("%w: topic is required", ErrBadStatement)
	}
	var err error
	if s.From, err = parseWhen(v.Get("from"), now); err != nil {
		return s, fmt.Errorf("%w: from: %v", ErrBadStatement, err)
	}
	if s.To, err = parseWhen(v.Get("to"), now); err != nil {
		return s, fmt.Errorf("%w: to: %v", ErrBadStatement, err)
	}
	if !s.From.IsZero() && !s.To.IsZero() && !s.From.Before(s.To) {
		return s, fmt.Errorf("%w: from must be before to", ErrBadStatement)
	}
	if w := v["where"]; len(w) > maxSearchWhere {
		return s, fmt.Errorf("%w: at most %d where parameters", ErrBadStatement, maxSearchWhere)
	}
	for _, w := range v["where"] {
		f, val, ok := strings.Cut(w, "=")
		if !ok || !fieldRe.MatchString(f) {
			return s, fmt.Errorf("%w: where %q: want field=value, the field letters, digits, _ and dots", ErrBadStatement, w)
		}
		s.Where = append(s.Where, FieldMatch{Field: f, Value: val})
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			return s, fmt.Errorf("%w: limit %q: want 1 to %d", ErrBadStatement, l, maxLimit)
		}
		s.Limit = n
	}
	s.Limit = min(s.Limit, maxLimit)
	if h := v.Get("histogram"); h != "" {
		d, err := time.ParseDuration(h)
		if err != nil || d < minBucket {
			return s, fmt.Errorf("%w: histogram %q: want a bucket width of at least %s, like 1m", ErrBadStatement, h, minBucket)
		}
		s.Bucket = d
	}
	all := s.Text + s.Topic
	for _, w := range s.Where {
		all += w.Value
	}
	if !utf8.ValidString(all) || strings.ContainsRune(all, 0) {
		return s, fmt.Errorf("%w: topic, q and where must be UTF-8 text without NUL", ErrBadStatement)
	}
	return s, nil
}

// parseWhen reads an absolute time or a duration before now; "" is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, nil
	case strings.ContainsAny(s, "-:T") && len(s) >= 10:
		return time.Parse(time.RFC3339Nano, s)
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return time.Time{}, fmt.Errorf("%d: a negative time", ms)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339, Unix milliseconds or a duration before now (1h)", s)
	}
	return now.Add(-d).UTC(), nil
}

// quoteString is a SQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent is a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func timeLiteral(t time.Time) string {
	return "TIMESTAMP " + quoteString(t.UTC().Format("2006-01-02 15:04:05.000"))
}

// where is the search's WHERE clause.
func (s Search) where() string {
	var c []string
	if !s.From.IsZero() {
		c = append(c, "timestamp >= "+timeLiteral(s.From))
	}
	if !s.To.IsZero() {
		c = append(c, "timestamp < "+timeLiteral(s.To))
	}
	if s.Text != "" {
		c = append(c, "contains(lower(value), lower("+quoteString(s.Text)+"))")
	}
	for _, w := range s.Where {
		switch w.Field {
		case "key":
			c = append(c, "key = "+quoteString(w.Value))
		case "partition":
			c = append(c, "partition = TRY_CAST("+quoteString(w.Value)+" AS INTEGER)")
		default:
			c = append(c, "(value->>"+quoteString("$."+w.Field)+") = "+quoteString(w.Value))
		}
	}
	if len(c) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c, " AND ")
}

// SQL is the statement returning the search's records, newest first.
func (s Search) SQL() string {
	return `SELECT partition, "offset", timestamp, key, value FROM ` + quoteIdent(s.Topic) + s.where() +
		` ORDER BY timestamp DESC, partition, "offset" DESC LIMIT ` + strconv.Itoa(s.Limit)
}

// HistogramSQL is the statement counting the matching records per bucket, oldest first.
func (s Search) HistogramSQL() string {
	return fmt.Sprintf(`SELECT time_bucket(INTERVAL '%d milliseconds', timestamp) AS bucket, count(*) AS count FROM %s%s GROUP BY bucket ORDER BY bucket`,
		s.Bucket.Milliseconds(), quoteIdent(s.Topic), s.where())
}
