//! The store conformance suite: public async functions every store implementation runs from its tests, one
//! module per area ([`accounts`], [`messages`], [`idempotency`], [`claims`], [`statuses`], [`outbox`], [`events`],
//! [`analytics`], [`inbound`], [`housekeeping`], [`limits`], [`expiry`], [`campaigns`], [`numbers`]), with shared builders in [`fixtures`].
//!
//! Each check takes a fresh, empty store and panics with a message saying what broke. Times are explicit offsets
//! from [`base_time`]; nothing sleeps. A backend crate runs the whole suite with one line in a test file:
//!
//! ```ignore
//! async fn make() -> std::sync::Arc<dyn whatsapi_core::Store> { /* a fresh store */ }
//! whatsapi_core::store_conformance_tests!(make);
//! ```
//!
//! The macro expands to one `#[tokio::test(flavor = "multi_thread")]` per check, so the calling crate needs
//! `tokio` (with `macros` and `rt-multi-thread`) among its dev-dependencies. [`run_all`] runs the same checks in
//! one call. Both read the one list in `store_conformance_checks!`, so a new check is added in one place.
//!
//! **Not semver-stable.** The checks, their names and the builders change whenever the store contract does
//! (a new check is how a new rule reaches every backend); pin the whatsapi version your store is tested against.

pub mod accounts;
pub mod analytics;
pub mod batch;
pub mod campaigns;
pub mod claims;
pub mod contacts;
pub mod costs;
pub mod endpoints;
pub mod events;
pub mod expiry;
pub mod fixtures;
pub mod housekeeping;
pub mod idempotency;
pub mod inbound;
pub mod limits;
pub mod messages;
pub mod numbers;
pub mod outbox;
pub mod statuses;

pub use accounts::*;
pub use analytics::*;
pub use batch::*;
pub use campaigns::*;
pub use claims::*;
pub use contacts::*;
pub use costs::*;
pub use endpoints::*;
pub use events::*;
pub use expiry::*;
pub use fixtures::{
    LEASE, at, base_time, claim_only, create_account_with_webhook, create_sample_account, insert,
    message_at, meta_update, sample_account, sample_attempt, sample_credentials, sample_message,
    sample_webhook, sent_message,
};
pub use housekeeping::*;
pub use idempotency::*;
pub use inbound::*;
pub use limits::*;
pub use messages::*;
pub use numbers::*;
pub use outbox::*;
pub use statuses::*;

use std::future::Future;
use std::sync::Arc;

use crate::store::Store;

/// What every check file imports.
mod prelude {
    pub(super) use std::collections::HashSet;
    pub(super) use std::sync::Arc;
    pub(super) use std::time::Duration;

    pub(super) use chrono::{DateTime, Utc};
    pub(super) use serde_json::json;
    pub(super) use tokio::task::JoinSet;

    pub(super) use crate::account::{
        Account, AccountId, AccountUpdate, BreakerState, CredentialsStatus, MetaCredentials,
        NewAccount, WebhookConfig,
    };
    pub(super) use crate::idempotency::{
        Decision, Fingerprint, IdempotencyKey, RequestKind, StoredOutcome,
    };
    pub(super) use crate::message::{
        BatchId, Message, MessageContent, MessageId, NewMessage, Status,
    };
    pub(super) use crate::phone::PhoneNumber;
    pub(super) use crate::status::MetaStatus;
    pub(super) use crate::store::{
        ClaimLimits, Claimed, DEFAULT_MAX_PENDING_STATUSES, EventNext, FailureInfo,
        IdempotencyCompletion, MessageFilter, NewBatch, Outcome, PageRequest, PurgePolicy,
        StatusApplied, StatusCounts, StatusUpdate, Store, StoreError, StoreResult,
    };
    pub(super) use crate::webhook::{DeliveryAttempt, EventData, EventId, StatusEventData};

    pub(super) use super::fixtures::*;
}

/// The names of every check, in the order [`run_all`] runs them.
pub fn check_names() -> &'static [&'static str] {
    crate::__store_conformance_list!(names)
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    crate::__store_conformance_list!(run make)
}

/// Expands a list of checks, the functions of the module `{$module}`, in one of four modes: their names, a call
/// of each on a fresh store from `make`, or one `#[tokio::test]` each (plain, or with a fixture that `finish` cleans
/// up after a check that passed). Shared by this suite's list and the product suite's (`whatsapi-saas`).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_expand {
    ([names] {$module:path} $($check:ident),* $(,)?) => {
        &[$(stringify!($check)),*]
    };
    ([run $make:ident] {$module:path} $($check:ident),* $(,)?) => {
        {
            use $module as suite;
            $(suite::$check($make().await).await;)*
        }
    };
    ([tests $make:path] {$module:path} $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                use $module as suite;
                suite::$check($make().await).await;
            }
        )*
    };
    ([fixture_tests $make:path, $finish:path] {$module:path} $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                use $module as suite;
                let Some((store, fixture)) = $make().await else {
                    return;
                };
                suite::$check(store).await;
                $finish(fixture).await;
            }
        )*
    };
}

/// The one list of checks, expanded for [`run_all`], [`check_names`] and
/// [`store_conformance_tests!`](crate::store_conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_list {
    ($($mode:tt)*) => {
        $crate::__conformance_expand! {[$($mode)*] {$crate::testing::conformance}
            accounts_create_and_lookup,
            account_without_product_sends,
            recent_account_sees_every_change,
            account_updates,
            list_accounts_pages_by_id,
            insert_and_get_messages,
            every_content_type_round_trips,
            recipients_and_replies_round_trip,
            list_messages_pages_and_filters,
            tenant_isolation,
            idempotency_decisions,
            insert_conflicts_on_finished_key,
            concurrent_idempotency_begin_gives_one_fresh,
            concurrent_inserts_with_one_key_create_one_set,
            claim_sets_lease_attempt_and_tries,
            claim_order_and_limit,
            claim_is_fair_across_accounts,
            claim_limits_per_account_skip_and_round_robin,
            scheduled_not_claimed_before_due,
            claim_skips_inactive_accounts_and_open_breakers,
            expired_lease_is_reclaimed_and_stale_attempt_fenced,
            concurrent_claimers_never_share,
            sent_outcome,
            retry_and_failed_outcomes,
            release_returns_to_queue,
            defer_queues_until_its_time,
            wamid_is_unique,
            batch_outcomes_match_one_by_one,
            batch_outcomes_edge_cases,
            meta_statuses_are_monotonic,
            early_status_applied_when_sent,
            pending_statuses_expire_by_receipt,
            pending_statuses_capped_per_account,
            status_change_writes_outbox_event,
            outbox_orders_events_per_message,
            outbox_backlog_counts_unfinished_events,
            delivery_attempts_are_recorded,
            endpoints_are_stored_per_account_and_bounded,
            endpoint_events_fan_out_and_queue_per_destination,
            given_up_events_can_be_resent,
            received_events_once_per_wamid_by_filter,
            received_events_are_not_held_back_by_each_other,
            events_written_on_their_own_keep_their_stream_order,
            endpoints_are_updated_and_reenabled,
            delivery_attempts_of_other_event_types,
            retry_only_from_failed,
            inbound_window,
            inbound_messages_once_per_wamid,
            inbound_messages_page_filter_and_isolate,
            inbound_messages_keep_their_number,
            next_due_at_tracks_the_earliest_due,
            purge_removes_only_expired,
            counters_match_recount,
            message_timeseries_buckets,
            meta_routing_keys_are_unique,
            meta_pricing_and_error_details_are_kept,
            pricing_is_counted_and_billable_messages_tallied,
            contacts_follow_sends_and_inbound,
            contacts_by_bsuid,
            contacts_and_windows_in_sets,
            contact_opt_outs_and_pauses,
            contact_thread_orders_both_ways,
            opt_out_keywords_per_account,
            send_slot_reservations_never_overlap,
            breaker_compare_and_set,
            expiry_fails_queued_scheduled_and_retrying_once,
            expiry_takes_the_earliest_first_and_reaches_unclaimable_accounts,
            expiry_respects_live_claims_and_fences_late_outcomes,
            retry_renews_the_validity_period,
            default_validity_round_trips,
            campaigns_are_stored_and_isolated,
            campaign_pause_holds_and_resume_releases,
            campaign_cancel_fails_the_rest_with_events,
            campaign_held_messages_expire,
            numbers_add_list_update_delete,
            numbers_are_unique_across_accounts_and_route_webhooks,
            messages_keep_their_from_number,
            number_throttles_step_down_and_recover,
        }
    };
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per conformance check, each
/// calling `$make().await` for a fresh `Arc<dyn Store>`. The calling crate needs `tokio` with `macros` and
/// `rt-multi-thread` among its dev-dependencies.
///
/// Backends on an external server use the fixture form, `store_conformance_tests!(fixture make, finish)`:
/// `make().await` returns `Option<(Arc<dyn Store>, F)>` — `None` skips the check (after `make` said why) — and
/// `finish(f).await` cleans up after a check that passed (a failed check leaves its data for inspection).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:path) => {
        $crate::__store_conformance_list!(tests $make);
    };
    (fixture $make:path, $finish:path) => {
        $crate::__store_conformance_list!(fixture_tests $make, $finish);
    };
}
