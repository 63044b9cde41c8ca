// Package client is the Go client of Runnel's REST API (/api/v1), the API
// the `runnel` CLI and the web console use. It is versioned with the
// server: a client from release X speaks the API of release X.
//
// Every route has a typed method; lists that the API paginates have page
// methods and iterators over all items ([Client.Pipelines],
// [Client.JobErrors]); a preview's live output is read with
// [Client.OpenOutput], which reconnects when the connection drops; and
// [Client.WaitForState] polls a pipeline's job until it reaches a state.
//
// Failed requests return a *[APIError] when the server answered (it
// carries the HTTP status and the API's `error` message) and a
// *[ConnectionError] when it could not be reached.
//
//	c, err := client.New("http://127.0.0.1:5115")
//	if err != nil { ... }
//	p, err := c.CreatePipeline(ctx, client.PipelinePost{Name: "doubled", Query: q, Parallelism: 1})
//	if err != nil { ... }
//	job, err := c.WaitForState(ctx, p.ID, client.StateRunning)
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is where a Runnel cluster listens unless told otherwise.
const DefaultEndpoint = "http://127.0.0.1:5115"

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Client talks to one Runnel API endpoint. It is safe for concurrent use.
type Client struct {
	base         *url.URL // scheme://host[/prefix], without /api/v1
	http         *http.Client
	userAgent    string
	timeout      time.Duration
	pollInterval time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc. Its
// Timeout, if set, also bounds output streams; prefer WithTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithTimeout bounds each ordinary request whose context has no deadline
// (default 30 s; 0 for none). Output streams are not bounded.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithPollInterval sets how often WaitForState and FollowJobErrors poll
// (default 250 ms).
func WithPollInterval(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.pollInterval = d
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the API at endpoint, for example
// "http://127.0.0.1:5115". A missing scheme means http; a trailing
// "/api/v1" is allowed.
func New(endpoint string, opts ...Option) (*Client, error) {
	base, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:         base,
		http:         &http.Client{},
		userAgent:    "runnel-go-client",
		timeout:      30 * time.Second,
		pollInterval: 250 * time.Millisecond,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func parseEndpoint(endpoint string) (*url.URL, error) {
	e := strings.TrimSpace(endpoint)
	if e == "" {
		return nil, errors.New("empty endpoint")
	}
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	u, err := url.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("endpoint %q: scheme must be http or https", endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: no host", endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q: must not have a query or fragment", endpoint)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v1")
	u.RawPath = ""
	return u, nil
}

// Endpoint is the API endpoint the client talks to.
func (c *Client) Endpoint() string { return c.base.String() }

// APIError is a request the server answered with an error status. Message
// is the API's `error` text (for example "Pipeline not found").
type APIError struct {
	StatusCode int
	Message    string
	Method     string
	Path       string // below the endpoint, e.g. /api/v1/pipelines/pl_x
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
}

// NotFound reports whether the server answered 404.
func (e *APIError) NotFound() bool { return e.StatusCode == http.StatusNotFound }

// ClientError reports whether the request was at fault (a 4xx status):
// bad input, invalid SQL, an unknown id, an illegal transition.
func (e *APIError) ClientError() bool { return e.StatusCode >= 400 && e.StatusCode < 500 }

// IsNotFound reports whether err is an *APIError with status 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.NotFound()
}

// ConnectionError is a request that never got an HTTP answer: the server
// is down, the address is wrong, or the connection broke.
type ConnectionError struct {
	Endpoint string
	Err      error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("cannot reach Runnel at %s: %v", e.Endpoint, causeOf(e.Err))
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// causeOf strips *url.Error's "Get \"http://…\":" prefix, which repeats
// what ConnectionError already says.
func causeOf(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// url builds an absolute URL below /api/v1 from escaped path segments.
func (c *Client) url(query url.Values, segments ...string) string {
	u := *c.base
	var b strings.Builder
	b.WriteString(u.Path)
	b.WriteString("/api/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	u.Path = ""
	u.RawPath = ""
	s := u.String() + b.String()
	if len(query) > 0 {
		s += "?" + query.Encode()
	}
	return s
}

// request is one API call.
type request struct {
	method   string
	segments []string
	query    url.Values
	body     any // JSON-encoded when non-nil
	out      any // decoded from the response when non-nil
}

// newRequest builds an *http.Request for r.
func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encoding request body: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r.query, r.segments...), body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return req, nil
}

// send performs req and turns transport failures into *ConnectionError
// (unless ctx ended, which is the caller's doing) and error statuses into
// *APIError. The caller closes the body of a successful response.
func (c *Client) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ctx.Err())
		}
		return nil, &ConnectionError{Endpoint: c.Endpoint(), Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, apiErrorFrom(req, resp)
	}
	return resp, nil
}

func apiErrorFrom(req *http.Request, resp *http.Response) *APIError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{StatusCode: resp.StatusCode, Method: req.Method, Path: req.URL.Path}
	var body errorBody
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Message = body.Error
	} else if t := strings.TrimSpace(string(raw)); t != "" && len(t) < 500 {
		// Not the API's JSON (a proxy's page, say): show it as it is.
		e.Message = t
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// do performs an ordinary (bounded) API call.
func (c *Client) do(ctx context.Context, r request) error {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if r.out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(r.out); err != nil {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ctx.Err())
		case errors.Is(err, io.ErrUnexpectedEOF):
			// The connection broke mid-body.
			return &ConnectionError{Endpoint: c.Endpoint(), Err: err}
		}
		return fmt.Errorf("decoding response of %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func pageQuery(o *ListOptions) url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.StartingAfter != "" {
		q.Set("starting_after", o.StartingAfter)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}
