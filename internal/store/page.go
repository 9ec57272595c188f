package store

import (
	"context"
	"fmt"
)

// maxPageSize bounds the page size that ReadPage accepts. The server applies tighter
// bounds; this one only keeps a wild value from overflowing or reading a whole index.
const maxPageSize = 10000

// ReadPage reads one page of a list from an index, the same way in every backend:
//
//   - scan returns up to limit keys of r, in order: one more than the page size, to learn
//     whether another page follows without a second read;
//   - load returns the resources named by the first pageSize of those keys, in the same
//     order. It may drop keys whose resource is gone or no longer belongs to the query
//     (a backend whose index can lag behind its records must);
//   - the next page token points after the last key of the page, not after the last
//     resource returned, so that a page of stale keys still moves the list forward.
//
// A page size below 1 is read as 1.
func ReadPage[T any](
	ctx context.Context,
	r Range,
	pageSize int,
	scan func(ctx context.Context, r Range, limit int) ([]string, error),
	load func(ctx context.Context, keys []string) ([]T, error),
) (Page[T], error) {
	pageSize = min(max(pageSize, 1), maxPageSize)
	keys, err := scan(ctx, r, pageSize+1)
	if err != nil {
		return Page[T]{}, err
	}
	more := len(keys) > pageSize
	if more {
		keys = keys[:pageSize]
	}
	var items []T
	if len(keys) > 0 {
		if items, err = load(ctx, keys); err != nil {
			return Page[T]{}, err
		}
	}
	p := Page[T]{Items: items}
	if more {
		p.NextPageToken = r.NextPageToken(keys[len(keys)-1])
	}
	return p, nil
}

// CheckRename returns an error if an update's mutate function changed the resource's
// name: backends store a resource under its name, so a rename would corrupt them.
func CheckRename(before, after string) error {
	if before != after {
		return fmt.Errorf("store: update of %s tried to rename it to %q", before, after)
	}
	return nil
}
