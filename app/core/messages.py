"""User-facing messages, defined once so views, services and tests agree on the words."""


def quantity(count: int, unit: str) -> str:
    """Say a count of a unit: "1 minute", "5 minutes"."""
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


UPLOAD_TOO_LARGE = "That photo is too large. The limit is {limit}."  # size_text(UPLOAD_MAX_BYTES)
UPLOAD_BAD_TYPE = "Please upload a JPEG, PNG, WebP or HEIC photo."
UPLOAD_CORRUPT = "We couldn't read that photo. It may be damaged or incomplete."
UPLOAD_TOO_MANY_PIXELS = "That image is too large to process (limit 50 megapixels)."
UPLOAD_TOO_SMALL = "That image is too small to identify (at least 200 × 200 pixels)."
UPLOAD_QUOTA = ("You've reached today's limit of {limit} identifications (those that fail don't count). "
                "It resets at midnight UTC.")
CSRF_FAILED = "Your form expired. Reload the page and try again."
LOGIN_FAILED = "Email or password is incorrect."
LOGIN_LOCKED = "Too many sign-in attempts. Try again in {wait}."  # wait: quantity(n, "minute")
PW_TOO_SHORT = "Use at least 12 characters."
PW_TOO_LONG = "Use at most 128 characters."
PW_COMMON = "This password is too common. Choose another."
PW_SIMILAR = "Your password is too similar to your email or username."
OAUTH_FAILED = "Google sign-in didn't complete. Please try again."
RATE_LIMITED = "You're going a bit fast. Please wait {wait}."  # wait: quantity(n, "second")
RATE_LIMITED_MINUTES = "You've reached the limit for now. Please try again in {minutes} minutes."
RATE_LIMITED_HOURS = "You've reached the limit for today. Please try again in about {hours} hours."
QUEUE_DOWN = (
    "Identification is temporarily unavailable. Your photo was not saved. "
    "Please try again in a few minutes."
)
STORAGE_DOWN = "We can't save photos right now. Please try again later."
DB_DOWN = "Verdant is having trouble reaching its database. Please try again shortly."
PARTIAL_RESULT = "Partial result: {why}, so these suggestions come from {other} only."
PARTIAL_NOTHING_FOUND = (
    "{why}, and {other} found no plant it knows in this photo. "
    "Press Retry to ask both again, or try a closer, sharper photo of a leaf or flower."
)
# A failed identification's message ends with what happens next: one of these two.
RETRY_AUTOMATICALLY = "Your photo is saved and we'll retry automatically."
RETRY_LATER = "Your photo is saved: press Retry to try again later."
BOTH_FAILED = "We couldn't get an identification this time: {reasons}. {then}"
BOTH_DOWN = "We couldn't reach the identification services. " + RETRY_AUTOMATICALLY
BOTH_DOWN_RETRY_LATER = "We couldn't reach the identification services. " + RETRY_LATER
IDENTIFY_CRASHED = "Something went wrong on our side while identifying your plant. {then}"
# Why a provider gave no answer, after its name ("Plant.id did not accept this site's key").
PROVIDER_FAILURES = {
    "timeout": "took too long to answer",
    "connection": "could not be reached",
    "server_error": "had a problem on its side",
    "rate_limited": "has no identifications left for now",
    "auth": "did not accept this site's key",
    "bad_response": "sent an answer we could not read",
    "circuit_open": "is paused for now after recent errors",
    "not_configured": "is not set up on this site",
}

BODY_TOO_LARGE = "That request is too large."
NOT_FOUND = "We couldn't find that page."
METHOD_NOT_ALLOWED = "That action isn't allowed here."
BAD_REQUEST = "That request couldn't be understood."
FORBIDDEN = "You don't have access to that page."
SERVER_ERROR = "Something went wrong on our side. Please try again."

SEARCH_TRIMMED = "Your search was too long, so we used only its first {limit} characters."
SEARCH_EMPTY = "Type a plant name, a family or a care question to search."
SEARCH_NO_RESULTS = "Nothing matched “{query}”. Check the spelling or try fewer words."
FILTER_IGNORED = "We ignored a filter we don't recognise: {names}."
SPECIES_ENRICH_QUEUED = "Re-enrichment queued for {count} species."
THREAD_LOCKED = "This thread is locked, so it takes no new replies."
POST_GONE = "That post was deleted, so you can't quote it."
POST_EMPTY = "Write something before posting."
POST_TOO_LONG = "Keep a post under 20,000 characters."
POST_TOO_MANY_IMAGES = "Attach at most 4 photos to a post."
REPORT_THANKS = "Thanks for the report. A moderator will take a look."
REPORT_DUPLICATE = "You've already reported that post."
MOD_DONE = "Done. The action is in the moderator log."
UNSUBSCRIBED = "You won't get Verdant emails any more. You can turn them back on under Notifications."
UNSUBSCRIBE_BAD_LINK = "That unsubscribe link isn't valid. Sign in to change your email settings."
EMAIL_PREFERENCE_SAVED = "Email settings saved."
BLOG_SLUG_TAKEN = "That address is already used by another post. Choose a different slug."
BLOG_BODY_TOO_LARGE = "That post is too long. The limit is 200 KB of text."
BLOG_UNKNOWN_SPECIES = "We don't know the species {slugs}. Check the slugs on their species pages."
BLOG_IMAGE_MISSING = "Choose an image to upload."
BLOG_SCHEDULE_MISSING = "Choose the date and time to publish at."
UPLOAD_NO_PHOTO = "Choose a photo of your plant to identify."
UPLOAD_TOO_MANY_PHOTOS = "Choose at most 5 photos of one plant."
UPLOAD_BAD_DETAILS = "Choose what each photo shows: leaf, flower, fruit, bark, or let Verdant decide."
IDENTIFY_NO_PROVIDER = (
    "Plant identification isn't set up on this site yet. Whoever runs the site "
    "needs to set PLANTID_API_KEY or PLANTNET_API_KEY (or run flask fake-providers for demo results)."
)
HEALTH_UNAVAILABLE = "The health check comes from Plant.id, which did not answer this time. Try again later."
IDENTIFY_DEMO = "Demo: answers come from local fake providers, not real identifications."
IDENTIFY_STUCK = "This identification took too long to finish. Your photo is saved: press Retry to try again."
UPLOAD_POLYGLOT = ("That file has another file hidden in it (a web page, an archive or a PDF), so we can't take it. "
                   "Please upload the photo straight from your camera or photo library.")
UPLOAD_BAD_LATITUDE = (
    "Latitude must be a number from -90 to 90, like 51.5. Leave both boxes empty to skip the location."
)
UPLOAD_BAD_LONGITUDE = (
    "Longitude must be a number from -180 to 180, like -0.12. Leave both boxes empty to skip the location."
)
UPLOAD_HALF_LOCATION = "Give both latitude and longitude, or neither."
UPLOAD_EXTRA_ORGANS = (
    "You said what more photos show than you sent. Set the extra photos back to “Same as photo 1”, "
    "or choose their photos too."
)
UPLOAD_CHOOSE_AGAIN = "Browsers don't keep chosen photos after a refusal: choose the photos again."
SHARE_PUBLIC = "Public: anyone with this link can see it."
SHARE_PRIVATE = "Private: only you can see it."
SHARE_NOT_READY = "Only a finished identification can be shared."
METRICS_TOKEN = "These figures are for the site's monitoring: send its token."
SERVICE_DOWN = "Part of Verdant is down for a moment. Please try again in a minute."
