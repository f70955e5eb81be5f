-- Per-symbol daily rollup, so a trade-history summary filtered by symbol reads ~one row per day
-- instead of every trade of that symbol (measured 68 ms p50 on 1M trades without it).
CREATE TABLE daily_symbol_pnl (
    account_id      text NOT NULL,
    tradingsymbol   text NOT NULL,
    trade_date      date NOT NULL,
    segment         text NOT NULL,
    trades          bigint NOT NULL DEFAULT 0,
    wins            bigint NOT NULL DEFAULT 0,
    profit_paise    bigint NOT NULL DEFAULT 0,
    loss_paise      bigint NOT NULL DEFAULT 0,
    net_paise       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, tradingsymbol, trade_date, segment)
);

INSERT INTO daily_symbol_pnl (account_id, tradingsymbol, trade_date, segment, trades, wins,
                              profit_paise, loss_paise, net_paise)
SELECT account_id, tradingsymbol, trade_date, segment, count(*),
       count(*) FILTER (WHERE net_pnl_paise > 0),
       coalesce(sum(net_pnl_paise) FILTER (WHERE net_pnl_paise > 0), 0),
       coalesce(sum(net_pnl_paise) FILTER (WHERE net_pnl_paise < 0), 0),
       sum(net_pnl_paise)
FROM trades GROUP BY 1, 2, 3, 4;
