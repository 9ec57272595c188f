package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// figure is one measured ratio (or count) with its target.
type figure struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	AtMost bool    `json:"at_most"` // the target is an upper bound
	Pass   bool    `json:"pass"`
	Detail string  `json:"detail"`
}

func newFigure(name string, value, target float64, atMost bool, detail string) figure {
	pass := value >= target
	if atMost {
		pass = value <= target
	}
	return figure{name, value, target, atMost, pass, detail}
}

// info is a figure without a target.
type info struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type report struct {
	Mode    string             `json:"mode"`
	Figures []figure           `json:"figures"`
	Info    []info             `json:"info"`
	Loads   map[string]any     `json:"loads"`
	Seconds map[string]float64 `json:"seconds"`
}

func (r *report) add(f figure) {
	r.Figures = append(r.Figures, f)
	fmt.Fprintf(os.Stderr, "  %s = %.3f (%s)\n", f.Name, f.Value, verdict(f))
}

func (r *report) note(name, format string, args ...any) {
	r.Info = append(r.Info, info{name, fmt.Sprintf(format, args...)})
}

func verdict(f figure) string {
	op := ">="
	if f.AtMost {
		op = "<="
	}
	v := "MISS"
	if f.Pass {
		v = "PASS"
	}
	return fmt.Sprintf("target %s %g: %s", op, f.Target, v)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nrallybench (%s)\n\n", r.Mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tRESULT\tDETAIL")
	for _, f := range r.Figures {
		op := ">="
		if f.AtMost {
			op = "<="
		}
		res := "MISS"
		if f.Pass {
			res = "PASS"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s %g\t%s\t%s\n", f.Name, f.Value, op, f.Target, res, f.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, i := range r.Info {
		fmt.Fprintf(tw, "%s\t%s\n", i.Name, strings.ReplaceAll(i.Value, "\n", "\n\t"))
	}
	tw.Flush()
}

func (r *report) write(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
