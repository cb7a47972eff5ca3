//! The warehouse of a run: people working in Odoo beside the connector.
//!
//! - **Stock moves** ([`move_stock`]), the whole stream long: every second or so an inventory
//!   adjustment sets a random product of a random Odoo to a new on-hand quantity (as a stock count
//!   or a receipt would). The connector must tell Salla (the stock push).
//! - **Shipping** ([`ship_orders`]), after the stream: some confirmed orders (`in_progress`,
//!   `shipped` in Salla) have their delivery validated in Odoo by the warehouse, not because of a
//!   Salla status. The fulfilment report must move them to `delivered` in Salla.
//!
//! Each works through Odoo's JSON-RPC as the admin, with the connector's own Odoo client; a call
//! that meets a fault (the sandboxes are flaky during the stream) is simply not counted.

use std::time::Duration;

use odoo::{Client, Config, Domain, SearchOptions};
use serde_json::Value;

use super::generator::{Rng, Stream};
use super::model::Model;

/// What the warehouse did.
#[derive(Debug, Default, Clone)]
pub struct Warehouse {
    /// Inventory adjustments applied during the stream.
    pub stock_moves: usize,
    /// Orders whose delivery the warehouse validated after the stream.
    pub shipped: usize,
}

fn client(url: &str) -> Option<Client> {
    let mut config = Config::new(url, "odoo", "admin", "admin".to_owned().into()).ok()?;
    // With admin's password, not the connector's API key (the sandboxes count the connector's
    // calls by its key): JSON-RPC, on 19 too.
    config.transport = odoo::TransportChoice::JsonRpc;
    Client::new(config).ok()
}

/// Inventory adjustments until `stop` fires; returns how many were applied.
pub async fn move_stock(
    urls: Vec<String>,
    mut rng: Rng,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> usize {
    let clients: Vec<Client> = urls.iter().filter_map(|u| client(u)).collect();
    let mut moved = 0;
    while !*stop.borrow() && !clients.is_empty() {
        let c = &clients[rng.below(clients.len() as u64) as usize];
        let products: Result<Vec<Value>, _> = c
            .search_read(
                "product.product",
                &Domain::new().ne("default_code", false),
                &["id", "default_code"],
                &SearchOptions::default(),
            )
            .await;
        if let Ok(products) = products
            && !products.is_empty()
        {
            let p = &products[rng.below(products.len() as u64) as usize];
            if let Some(id) = p["id"].as_i64() {
                let qty = rng.range(0, 60) as f64;
                if c.set_stock_on_hand(id, qty, None).await.is_ok() {
                    moved += 1;
                }
            }
        }
        let pause = Duration::from_millis(rng.range(600, 1400));
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    moved
}

/// Validate the deliveries of about a third of the confirmed orders in Odoo; returns the
/// (merchant, order) pairs shipped.
pub async fn ship_orders(
    urls: &[String],
    stream: &Stream,
    model: &Model,
    rng: &mut Rng,
) -> Vec<(u64, u64)> {
    let mut shipped = Vec::new();
    for store in &stream.stores {
        let Some(c) = urls.get(store.odoo).and_then(|u| client(u)) else {
            continue;
        };
        let Some(m) = model.stores.get(&store.merchant) else {
            continue;
        };
        for (id, (_, o)) in &m.orders {
            if !matches!(o.status, "in_progress" | "shipped") || !rng.chance(0.35) {
                continue;
            }
            let mark = format!("salla:{}:{id}", store.merchant);
            let found = c
                .search(
                    "sale.order",
                    &Domain::new().eq("client_order_ref", mark.as_str()),
                    &SearchOptions::default(),
                )
                .await;
            let Ok([order]) = found.as_deref() else {
                continue;
            };
            match c.validate_order_deliveries(*order).await {
                Ok(done) if !done.is_empty() => shipped.push((store.merchant, *id)),
                Ok(_) => {}
                Err(e) => eprintln!("chaos: warehouse: {mark} not shipped: {e}"),
            }
        }
    }
    eprintln!(
        "chaos: warehouse shipped {} order(s) in Odoo",
        shipped.len()
    );
    shipped
}
