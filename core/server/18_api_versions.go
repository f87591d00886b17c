package server

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiVersionsKey = 18

// apiVersionsList is the table as ApiVersions reports it, sorted by key.
func apiVersionsList(apis map[int16]api) []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: a.min, MaxVersion: a.max})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

// handleApiVersions advertises exactly the APIs and versions in the
// dispatch table.
func handleApiVersions(apis map[int16]api) handler {
	list := apiVersionsList(apis)
	return func(_ context.Context, rc *requestContext, req kmsg.Request) (any, error) {
		resp := req.(*kmsg.ApiVersionsRequest).ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = list
		return resp, nil
	}
}

// unsupportedAPIVersions is the answer to an ApiVersions request of a
// version we do not know: version 0, UNSUPPORTED_VERSION, and our table.
func unsupportedAPIVersions(apis map[int16]api) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionsList(apis)
	return resp
}
