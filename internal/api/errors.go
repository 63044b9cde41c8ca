package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error" api:"required"`
}

// apiError is an error with the status and client-facing message it maps
// to. Anything else a handler returns is an internal error.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

var errInternal = &apiError{Status: http.StatusInternalServerError, Message: "Something went wrong"}

func errNotFound(object string) *apiError {
	return &apiError{Status: http.StatusNotFound, Message: object + " not found"}
}

func errBadRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// errUnprocessable is a body that is valid JSON but not the expected shape.
func errUnprocessable(format string, args ...any) *apiError {
	return &apiError{
		Status:  http.StatusUnprocessableEntity,
		Message: "Failed to deserialize the JSON body into the target type: " + fmt.Sprintf(format, args...),
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Wire types are plain data; this cannot happen short of a bug.
		status, b = http.StatusInternalServerError, []byte(`{"error":"Something went wrong"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, ErrorBody{Error: e.Message})
}

// handlerFunc is a handler that reports failures by returning them.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap turns a handlerFunc into an http.HandlerFunc: *apiError values are
// sent as they are; anything else is logged and hidden behind a 500.
func (s *server) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if errors.As(err, &ae) {
			writeError(w, ae)
			return
		}
		s.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, errInternal)
	}
}

// validator is implemented by request bodies with rules beyond their shape.
type validator interface {
	validate() error
}

// decodeBody reads a JSON request body into dst (a pointer to a struct)
// with the strictness of a typed deserializer: the content type must be
// JSON (415), the body must fit (413) and parse (400), and it must have
// the right shape (422): exactly-named known fields, right types, required
// fields present and non-null. Nothing has been written to the store when
// it fails.
func (s *server) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		return &apiError{Status: http.StatusUnsupportedMediaType, Message: "Expected request with `Content-Type: application/json`"}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Request body is larger than the limit of %d bytes", tooBig.Limit)}
		}
		return errBadRequest("Failed to read the request body: %v", err)
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return errBadRequest("Failed to parse the request body as JSON: %v", err)
	}

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return errUnprocessable("expected a JSON object")
	}
	// encoding/json matches names case-insensitively and silently ignores
	// unknown ones; clients get told about typos instead.
	known := jsonFields(reflect.TypeOf(dst).Elem())
	for name := range fields {
		if _, ok := known[name]; !ok {
			return errUnprocessable("unknown field `%s`, expected one of %s", name, fieldList(known))
		}
	}
	for name, required := range known {
		if !required {
			continue
		}
		raw, ok := fields[name]
		if !ok {
			return errUnprocessable("missing field `%s`", name)
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return errUnprocessable("field `%s` must not be null", name)
		}
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errUnprocessable("%s: invalid type: expected %s, got JSON %s", fieldPath(typeErr), typeName(typeErr.Type), typeErr.Value)
		}
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return errUnprocessable("unknown field %s", f)
		}
		return errUnprocessable("%s", strings.TrimPrefix(msg, "json: "))
	}
	if v, ok := dst.(validator); ok {
		return v.validate()
	}
	return nil
}

func isJSONContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// jsonFields maps a struct's JSON field names to whether they are required
// (tagged api:"required"). The same tags mark required properties in the
// OpenAPI document.
func jsonFields(t reflect.Type) map[string]bool {
	out := make(map[string]bool)
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Tag.Get("api") == "required"
	}
	return out
}

func fieldList(known map[string]bool) string {
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, "`"+n+"`")
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func fieldPath(e *json.UnmarshalTypeError) string {
	if e.Field != "" {
		return "`" + e.Field + "`"
	}
	return "body"
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}
