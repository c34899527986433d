//! An account's business numbers: the default one (its credentials) and the extra ones it connects, each
//! verified against Meta when connected, with its pacing rate (see [`crate::numbers`]).

use chrono::{DateTime, Utc};

use crate::account::{Account, AccountId, AccountUpdate, CredentialsStatus, MetaCredentials};
use crate::numbers::{
    BusinessNumber, MAX_NUMBERS_PER_ACCOUNT, MAX_THROUGHPUT_PER_SECOND, NumberUpdate,
    rate_of_throughput,
};
use crate::send::ValidationErrors;
use crate::store::StoreError;

use super::{Error, WhatsApi};

/// One business number of an account as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountNumber {
    /// Meta's phone number id: what a send names as `from`.
    pub phone_number_id: String,
    /// The default number (the account's credentials): sends without `from` go out on it.
    pub is_default: bool,
    /// It has an access token of its own (otherwise the default credentials' token is used).
    pub own_access_token: bool,
    /// The number as Meta displays it, once verified.
    pub display_phone_number: Option<String>,
    /// The business name Meta shows, once verified.
    pub verified_name: Option<String>,
    /// Meta's quality rating, when known.
    pub quality_rating: Option<String>,
    /// Meta's `throughput.level`, when known.
    pub throughput_level: Option<String>,
    /// The rate set for it (from its tier or by the account); `None`: the engine's default.
    pub throughput_per_second: Option<u32>,
    /// The rate it is paced at: its own, else the engine's default (0: pacing is off).
    pub effective_throughput_per_second: u32,
    /// The rate in force now when Meta's 130429 stepped it down (it recovers step by step); `None` when not.
    pub throttled_to: Option<u32>,
    /// When it was connected (the account's creation for the default number).
    pub created_at: DateTime<Utc>,
}

/// Longest access token accepted (Meta's are a few hundred characters).
const MAX_TOKEN_LEN: usize = 4096;

/// A phone number id as Meta gives them: digits, at most 32.
pub(crate) fn is_phone_number_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

impl WhatsApi {
    /// Connects an extra business number to the account, after checking it with Meta (`GET /{phone-number-id}`,
    /// with the number's own token or else the default credentials' one): its display number, name, quality and
    /// throughput tier are recorded, and its pacing rate set from the tier. A number Meta refuses is
    /// [`Error::Meta`]; one already connected (here or to another account) is [`Error::Conflict`].
    pub async fn add_number(
        &self,
        account: &Account,
        phone_number_id: &str,
        access_token: Option<&str>,
    ) -> Result<AccountNumber, Error> {
        let mut errs = ValidationErrors::default();
        let id = phone_number_id.trim();
        if id.is_empty() {
            errs.push(
                "whatsappPhoneNumberId",
                "required: the numeric Phone Number ID from Meta (not the phone number itself)",
            );
        } else if !is_phone_number_id(id) {
            errs.push(
                "whatsappPhoneNumberId",
                "must be the numeric Phone Number ID from Meta (digits only, at most 32), not the phone number itself",
            );
        }
        let token = access_token.map(str::trim).filter(|t| !t.is_empty());
        if token
            .is_some_and(|t| t.len() > MAX_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            errs.push(
                "whatsappAccessToken",
                "must be a single token of at most 4096 visible ASCII characters, without spaces",
            );
        }
        let default = account.credentials.as_ref();
        if token.is_none() && default.is_none() {
            errs.push(
                "whatsappAccessToken",
                "required: this account has no default credentials (PUT /auth/me/credentials) whose token the \
                 number could use",
            );
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        if default.is_some_and(|c| c.phone_number_id == id) {
            return Err(conflict(crate::store::support::number_already_connected(
                id,
            )));
        }
        let mut creds = MetaCredentials::new(
            token.map_or_else(
                || default.map(|c| c.access_token.clone()).unwrap_or_default(),
                str::to_owned,
            ),
            id,
        );
        creds.waba_id = default.and_then(|c| c.waba_id.clone());
        let info = self
            .core()
            .transport
            .verify(&creds)
            .await
            .map_err(|e| Error::Meta(Box::new(e)))?;
        let mut info = info;
        // Meta answers for the id asked; keep the id as given whatever it echoes.
        info.id = id.to_owned();
        let number = BusinessNumber::verified(
            account.id,
            &info,
            token.map(str::to_owned),
            self.clock().now(),
        );
        let added = self
            .store()
            .add_number(number, MAX_NUMBERS_PER_ACCOUNT)
            .await
            .map_err(conflict)?;
        tracing::info!(account_id = %account.id, phone_number_id = %id, "business number connected");
        self.view(account, added).await
    }

    /// The account's numbers: the default one first (when it has credentials), then the extra ones, oldest first.
    pub async fn numbers(&self, account: &Account) -> Result<Vec<AccountNumber>, Error> {
        let extra = self.store().numbers(account.id).await?;
        let mut out = Vec::with_capacity(extra.len() + 1);
        let mut keys: Vec<String> = extra.iter().map(|n| n.phone_number_id.clone()).collect();
        if let Some(c) = &account.credentials {
            keys.insert(0, c.phone_number_id.clone());
        }
        let throttles = self.store().throttles(&keys).await?;
        let mut throttles = throttles.into_iter();
        if let Some(c) = &account.credentials {
            out.push(self.default_view(account, c, throttles.next().flatten()));
        }
        for (n, t) in extra.into_iter().zip(throttles) {
            out.push(self.extra_view(n, t));
        }
        Ok(out)
    }

    /// The credentials a call on the account's number `phone_number_id` uses (the default credentials for the
    /// default number, else the extra number's, see [`BusinessNumber::credentials`]); `None` when the account has
    /// no such number (any more), [`Error::NoCredentials`] when it has the number but no token to use for it.
    pub(crate) async fn number_credentials(
        &self,
        account: &Account,
        phone_number_id: &str,
    ) -> Result<Option<MetaCredentials>, Error> {
        let default = account.credentials.as_ref();
        if let Some(c) = default.filter(|c| c.phone_number_id == phone_number_id) {
            return Ok(Some(c.clone()));
        }
        match self.store().number(account.id, phone_number_id).await? {
            Some(n) => n.credentials(default).map(Some).ok_or(Error::NoCredentials),
            None => Ok(None),
        }
    }

    /// One number of the account (the default one or an extra one); `NotFound` for another account's or an
    /// unknown one.
    pub async fn number(
        &self,
        account: &Account,
        phone_number_id: &str,
    ) -> Result<AccountNumber, Error> {
        if let Some(c) = account
            .credentials
            .as_ref()
            .filter(|c| c.phone_number_id == phone_number_id)
        {
            let t = self.throttle(phone_number_id).await?;
            return Ok(self.default_view(account, c, t));
        }
        let n = self
            .store()
            .number(account.id, phone_number_id)
            .await?
            .ok_or_else(not_found)?;
        self.view(account, n).await
    }

    /// Sets the pacing rate of one of the account's numbers (`None`: back to the engine's default), 1–1,000
    /// messages per second. It lasts until the number is verified again (a new tier from Meta sets it again).
    pub async fn set_number_throughput(
        &self,
        account: &Account,
        phone_number_id: &str,
        per_second: Option<u32>,
    ) -> Result<AccountNumber, Error> {
        if per_second.is_some_and(|r| r == 0 || r > MAX_THROUGHPUT_PER_SECOND) {
            return Err(Error::field(
                "throughputPerSecond",
                format!(
                    "must be a whole number from 1 to {MAX_THROUGHPUT_PER_SECOND} (messages per second), or null for the server's default"
                ),
            ));
        }
        if let Some(c) = account
            .credentials
            .as_ref()
            .filter(|c| c.phone_number_id == phone_number_id)
        {
            let mut c = c.clone();
            c.throughput_per_second = per_second;
            let updated = self
                .store()
                .update_account(account.id, AccountUpdate::ReplaceCredentials(c))
                .await?;
            return self.number(&updated, phone_number_id).await;
        }
        let n = self
            .store()
            .update_number(
                account.id,
                phone_number_id,
                NumberUpdate::SetThroughput(per_second),
            )
            .await
            .map_err(conflict)?;
        self.view(account, n).await
    }

    /// Replaces the access token of an extra number (`None`: use the default credentials' token). The default
    /// number's token is the credentials' (`PUT /auth/me/credentials`).
    pub async fn set_number_token(
        &self,
        account: &Account,
        phone_number_id: &str,
        access_token: Option<&str>,
    ) -> Result<AccountNumber, Error> {
        let token = access_token.map(str::trim).filter(|t| !t.is_empty());
        if token
            .is_some_and(|t| t.len() > MAX_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(Error::field(
                "whatsappAccessToken",
                "must be a single token of at most 4096 visible ASCII characters, without spaces",
            ));
        }
        if account
            .credentials
            .as_ref()
            .is_some_and(|c| c.phone_number_id == phone_number_id)
        {
            return Err(Error::field(
                "whatsappAccessToken",
                "the default number's token is the account's credentials: change it with PUT /auth/me/credentials",
            ));
        }
        let n = self
            .store()
            .update_number(
                account.id,
                phone_number_id,
                NumberUpdate::SetAccessToken(token.map(str::to_owned)),
            )
            .await
            .map_err(conflict)?;
        self.view(account, n).await
    }

    /// Disconnects an extra number. The default number is removed with its credentials
    /// ([`remove_credentials`](Self::remove_credentials)), so it is [`Error::Conflict`] here.
    pub async fn remove_number(
        &self,
        account: &Account,
        phone_number_id: &str,
    ) -> Result<(), Error> {
        if account
            .credentials
            .as_ref()
            .is_some_and(|c| c.phone_number_id == phone_number_id)
        {
            return Err(Error::Conflict(
                "this is the account's default number: remove it with DELETE /auth/me/credentials"
                    .into(),
            ));
        }
        self.store()
            .delete_number(account.id, phone_number_id)
            .await
            .map_err(conflict)?;
        tracing::info!(account_id = %account.id, %phone_number_id, "business number disconnected");
        Ok(())
    }

    /// Records the tier Meta reported for the default number when its credentials were verified, as its pacing
    /// rate (a known tier only; the credentials are otherwise unchanged).
    pub(super) async fn record_default_tier(
        &self,
        account: AccountId,
        info: &crate::transport::PhoneNumberInfo,
    ) -> Result<(), Error> {
        let Some(rate) = rate_of_throughput(info) else {
            return Ok(());
        };
        let acc = self.me(account).await?;
        let Some(mut c) = acc.credentials.filter(|c| c.phone_number_id == info.id) else {
            return Ok(());
        };
        if c.throughput_per_second == Some(rate) {
            return Ok(());
        }
        c.throughput_per_second = Some(rate);
        self.store()
            .update_account(account, AccountUpdate::ReplaceCredentials(c))
            .await?;
        Ok(())
    }

    async fn throttle(&self, key: &str) -> Result<Option<crate::numbers::Throttle>, Error> {
        Ok(self
            .store()
            .throttles(&[key.to_owned()])
            .await?
            .into_iter()
            .next()
            .flatten())
    }

    async fn view(&self, _account: &Account, n: BusinessNumber) -> Result<AccountNumber, Error> {
        let t = self.throttle(&n.phone_number_id).await?;
        Ok(self.extra_view(n, t))
    }

    /// The rate in force under `t` for a number of `rate` (its own or the default), when stepped down.
    fn throttled(&self, rate: u32, t: Option<crate::numbers::Throttle>) -> Option<u32> {
        let t = t?;
        let now = self.clock().now();
        let recovery = self.config().pace_recovery;
        (rate > 0 && t.steps_at(now, recovery) > 0).then(|| t.rate_at(rate, now, recovery))
    }

    fn effective(&self, own: Option<u32>) -> u32 {
        let default = self.config().pace_per_second;
        if default == 0 {
            0
        } else {
            own.unwrap_or(default)
        }
    }

    fn extra_view(&self, n: BusinessNumber, t: Option<crate::numbers::Throttle>) -> AccountNumber {
        let effective = self.effective(n.throughput_per_second);
        AccountNumber {
            is_default: false,
            own_access_token: n.access_token.is_some(),
            display_phone_number: Some(n.display_phone_number),
            verified_name: Some(n.verified_name),
            quality_rating: n.quality_rating,
            throughput_level: n.throughput_level,
            throughput_per_second: n.throughput_per_second,
            effective_throughput_per_second: effective,
            throttled_to: self.throttled(effective, t),
            created_at: n.created_at,
            phone_number_id: n.phone_number_id,
        }
    }

    fn default_view(
        &self,
        account: &Account,
        c: &MetaCredentials,
        t: Option<crate::numbers::Throttle>,
    ) -> AccountNumber {
        let (display, name, quality) = match &account.credentials_status {
            CredentialsStatus::Verified {
                verified_name,
                display_phone_number,
                quality_rating,
                ..
            } => (
                Some(display_phone_number.clone()),
                Some(verified_name.clone()),
                quality_rating.clone(),
            ),
            _ => (None, None, None),
        };
        let effective = self.effective(c.throughput_per_second);
        AccountNumber {
            phone_number_id: c.phone_number_id.clone(),
            is_default: true,
            own_access_token: true,
            display_phone_number: display,
            verified_name: name,
            quality_rating: quality,
            throughput_level: None,
            throughput_per_second: c.throughput_per_second,
            effective_throughput_per_second: effective,
            throttled_to: self.throttled(effective, t),
            created_at: account.created_at,
        }
    }
}

fn not_found() -> Error {
    Error::NotFound("no such phone number in this account; GET /numbers lists yours".into())
}

/// The store's answers in the service's words: an unknown number is `NotFound`, a number already connected a
/// `Conflict` with the store's explanation.
fn conflict(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => not_found(),
        StoreError::Conflict(m) => Error::Conflict(m),
        other => other.into(),
    }
}
