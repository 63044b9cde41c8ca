// Package all registers every built-in connector; import it for its side
// effect.
package all

import (
	// Built-in connectors register themselves in their init.
	_ "github.com/runnel-dev/runnel/internal/connectors/blackhole"
	_ "github.com/runnel-dev/runnel/internal/connectors/filesystem"
	_ "github.com/runnel-dev/runnel/internal/connectors/impulse"
	_ "github.com/runnel-dev/runnel/internal/connectors/nexmark"
	_ "github.com/runnel-dev/runnel/internal/connectors/preview"
	_ "github.com/runnel-dev/runnel/internal/connectors/stdout"
)
