// Package openapiv2 embeds the merged OpenAPI v2 document that `make generate` writes
// next to this file. This file is the only hand-written one under gen/.
package openapiv2

import _ "embed"

// JSON is the OpenAPI v2 (Swagger) document of Rally's REST API.
//
//go:embed rally.swagger.json
var JSON []byte
