package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
)

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// apiTag reads the api struct tag: "required" and "enum=a|b|c", comma
// separated.
func apiTag(tag reflect.StructTag) (required bool, enum []string) {
	for part := range strings.SplitSeq(tag.Get("api"), ",") {
		switch {
		case part == "required":
			required = true
		case strings.HasPrefix(part, "enum="):
			enum = strings.Split(strings.TrimPrefix(part, "enum="), "|")
		}
	}
	return required, enum
}

var (
	apiPackage = reflect.TypeFor[route]().PkgPath()
	timeType   = reflect.TypeFor[time.Time]()
)

// customizeSchema adds what Go types cannot say by themselves: required
// properties (api:"required" here; fields without omitempty in other
// packages' types), enumerations, and closed objects for request bodies,
// which reject unknown fields.
func customizeSchema(closed map[reflect.Type]bool) openapi3gen.SchemaCustomizerFn {
	return func(_ string, t reflect.Type, tag reflect.StructTag, schema *openapi3.Schema) error {
		if _, enum := apiTag(tag); len(enum) > 0 {
			target := schema
			if schema.Items != nil && schema.Items.Value != nil {
				target = schema.Items.Value
			}
			for _, e := range enum {
				target.Enum = append(target.Enum, e)
			}
		}
		if t.Kind() != reflect.Struct || t == timeType {
			return nil
		}
		var required []string
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			req, _ := apiTag(f.Tag)
			if t.PkgPath() != apiPackage {
				req = !strings.Contains(opts, "omitempty")
			}
			if req {
				required = append(required, name)
			}
		}
		slices.Sort(required)
		schema.Required = required
		if closed[t] {
			no := false
			schema.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
		}
		return nil
	}
}

// openAPIDoc describes routes. It is built from the route table and wire
// types that serve the API.
func openAPIDoc(routes []route) (*openapi3.T, error) {
	closed := map[reflect.Type]bool{reflect.TypeFor[UDF](): true}
	for _, rt := range routes {
		if rt.Request != nil {
			closed[reflect.TypeOf(rt.Request)] = true
		}
	}
	// Named wire types become shared components so that generated clients
	// get a Pipeline, a Job, … instead of anonymous shapes.
	schemas := openapi3.Schemas{}
	components := map[string]reflect.Type{}
	gen := openapi3gen.NewGenerator(
		openapi3gen.SchemaCustomizer(customizeSchema(closed)),
		openapi3gen.CreateComponentSchemas(openapi3gen.ExportComponentSchemasOptions{
			ExportComponentSchemas: true, ExportTopLevelSchema: true,
		}),
		openapi3gen.CreateTypeNameGenerator(func(t reflect.Type) string {
			name := t.Name()
			if prev, ok := components[name]; ok && prev != t {
				// Same name in two packages: qualify the newcomer.
				name = path.Base(t.PkgPath()) + "." + name
			}
			components[name] = t
			return name
		}),
	)
	schemaOf := func(v any) (*openapi3.SchemaRef, error) {
		ref, err := gen.NewSchemaRefForValue(v, schemas)
		if err != nil {
			return nil, fmt.Errorf("schema of %T: %w", v, err)
		}
		return ref, nil
	}
	errSchema, err := schemaOf(ErrorBody{})
	if err != nil {
		return nil, err
	}

	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{
			Title:       "Runnel API",
			Version:     "v1",
			Description: "Runnel's REST API, wire-compatible with Arroyo's /api/v1. Times are microseconds since the Unix epoch.",
		},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{Schemas: schemas},
	}
	for _, rt := range routes {
		op := &openapi3.Operation{OperationID: rt.ID, Summary: rt.Summary, Responses: openapi3.NewResponses()}
		for _, name := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			p := openapi3.NewPathParameter(name[1]).WithRequired(true)
			if name[1] == "epoch" {
				p.WithSchema(openapi3.NewIntegerSchema().WithMin(0))
			} else {
				p.WithSchema(openapi3.NewStringSchema())
			}
			op.AddParameter(p)
		}
		if rt.Paginated {
			op.AddParameter(openapi3.NewQueryParameter("starting_after").
				WithDescription("id of the last item of the previous page").
				WithSchema(openapi3.NewStringSchema()))
			op.AddParameter(openapi3.NewQueryParameter("limit").
				WithDescription("page size, default " + strconv.Itoa(defaultPageLimit)).
				WithSchema(openapi3.NewIntegerSchema().WithMin(1).WithMax(math.MaxUint32)))
		}
		if rt.Request != nil {
			s, err := schemaOf(rt.Request)
			if err != nil {
				return nil, err
			}
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().
				WithRequired(true).WithJSONSchemaRef(s)}
		}
		ok := openapi3.NewResponse().WithDescription("OK")
		switch {
		case rt.SSE:
			events := openapi3.NewStringSchema()
			events.Description = "Server-sent events; each `data:` is an OutputData object"
			ok.WithContent(openapi3.NewContentWithSchema(events, []string{"text/event-stream"}))
		case rt.Response != nil:
			s, err := schemaOf(rt.Response)
			if err != nil {
				return nil, err
			}
			ok.WithJSONSchemaRef(s)
		}
		op.AddResponse(http.StatusOK, ok)
		for _, code := range rt.Errors {
			op.AddResponse(code, openapi3.NewResponse().
				WithDescription(http.StatusText(code)).WithJSONSchemaRef(errSchema))
		}
		path := apiPrefix + rt.Path
		item := doc.Paths.Value(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		item.SetOperation(rt.Method, op)
	}
	nullableRefs(schemas, components)
	return doc, nil
}

// nullableRefs marks pointer-to-struct fields nullable. The generator
// turns them into bare $refs, and OpenAPI 3.0 ignores siblings of $ref, so
// the nullable flag is carried by a wrapper: {nullable, allOf: [$ref]}.
func nullableRefs(schemas openapi3.Schemas, types map[string]reflect.Type) {
	for name, ref := range schemas {
		t, ok := types[name]
		if !ok || ref.Value == nil {
			continue
		}
		for f := range t.Fields() {
			if f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct || f.Type.Elem() == timeType {
				continue
			}
			jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			prop := ref.Value.Properties[jsonName]
			if prop == nil || prop.Ref == "" {
				continue
			}
			ref.Value.Properties[jsonName] = &openapi3.SchemaRef{Value: &openapi3.Schema{
				Nullable: true,
				AllOf:    openapi3.SchemaRefs{{Ref: prop.Ref}},
			}}
		}
	}
}

func openAPIJSON(routes []route) ([]byte, error) {
	doc, err := openAPIDoc(routes)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding OpenAPI document: %w", err)
	}
	return b, nil
}
