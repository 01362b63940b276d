package connector

import "context"

// Unrecorded returns a context that carries ctx's values, deadline and cancellation but no
// Recorder, so requests made with it pass through the capturing transport unrecorded. Use
// it for requests that are not evidence and must not be stored (token refreshes that an
// SDK makes with the caller's context, downloads of tools); never to hide evidence.
func Unrecorded(ctx context.Context) context.Context {
	if RecorderFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, recorderKey{}, (*Recorder)(nil))
}
