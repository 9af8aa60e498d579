"""Names GA4's Measurement Protocol reserves for Google's own use.

From the Measurement Protocol reference ("Reserved names"): events, event
parameters and user properties with these names or prefixes are refused.
"""

from __future__ import annotations

RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_background",
        "app_clear_data",
        "app_exception",
        "app_remove",
        "app_store_refund",
        "app_store_subscription_cancel",
        "app_store_subscription_convert",
        "app_store_subscription_renew",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "notification_send",
        "os_update",
        "screen_view",
        "session_start",
        "user_engagement",
    }
)
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
RESERVED_USER_PROPERTY_NAMES = frozenset(
    {
        "first_open_time",
        "first_visit_time",
        "last_deep_link_referrer",
        "user_id",
        "first_open_after_install",
    }
)
EVENT_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
USER_PROPERTY_PREFIXES = ("_", "firebase_", "ga_", "google_")
