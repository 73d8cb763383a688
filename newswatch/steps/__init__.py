"""A feed's steps, plain functions taking values and returning values, in the order
newswatch.cycle runs them: fetch (network) -> digest (CPU, worker processes) -> pages
(network, summary-only feeds) -> store (one transaction, no network) -> deliver."""
