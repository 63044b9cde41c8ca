package sql

import (
	"fmt"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// An updating relation (rel.updating) is a changelog: the result of an
// aggregate without a window, and whatever filters and projects it. Its
// last column is engine.RetractField, which every operator after the
// aggregate carries through to the sink. Aggregates without a window
// accept updating inputs (they undo a retracted row's contribution);
// joins, window aggregates and ROW_NUMBER, which would have to retract
// their own output in turn, reject them.

// retractColumn is the changelog flag column of updating relations.
var retractColumn = connectors.Column{Name: engine.RetractField, Type: typBool}

// retractRef refers to the flag column among cols (it is the last one).
func retractRef(cols []connectors.Column) *expr.Column {
	i := len(cols) - 1
	return &expr.Column{Index: i, Name: cols[i].Name, T: typBool}
}

// notUpdating rejects an updating input of a construct that cannot
// handle retractions.
func notUpdating(r *rel, what string) error {
	if r == nil || !r.updating {
		return nil
	}
	return fmt.Errorf("%s over an updating input (the result of an aggregate without a window) is not supported", what)
}

// checkUpdatingSink rejects writing a changelog to a sink that can only
// append.
func checkUpdatingSink(r *rel, sink *table) error {
	if !r.updating || sink == nil || sink.t.Updating {
		return nil
	}
	return &semError{
		msg: fmt.Sprintf("the query is updating (it aggregates without a window, so its rows change), but table '%s' (connector '%s') can only append rows; "+
			"write it with a changelog format such as format = 'debezium_json', or group by a window", sink.name, sink.connector),
		name: sink.name,
	}
}
