"""Beyond one machine on Ray: the catalog embedded by a pool of Ray actors (Ray Data), and the item
index split over Ray actors and queried by scatter-gather. Ray is an optional dependency
(``pip install semrec[ray]``); nothing else in semrec imports this package."""
