"""User-facing messages, defined once so views, services and tests agree on the words."""

UPLOAD_TOO_LARGE = "That photo is too large. The limit is 15 MB."
UPLOAD_BAD_TYPE = "Please upload a JPEG, PNG, WebP or HEIC photo."
UPLOAD_CORRUPT = "We couldn't read that photo. It may be damaged or incomplete."
UPLOAD_TOO_MANY_PIXELS = "That image is too large to process (limit 50 megapixels)."
UPLOAD_TOO_SMALL = "That image is too small to identify (at least 200 × 200 pixels)."
UPLOAD_QUOTA = "You've reached today's limit of 50 identifications. It resets at midnight UTC."
CSRF_FAILED = "Your form expired. Reload the page and try again."
LOGIN_FAILED = "Email or password is incorrect."
LOGIN_LOCKED = "Too many sign-in attempts. Try again in {minutes} minutes."
PW_TOO_SHORT = "Use at least 12 characters."
PW_TOO_LONG = "Use at most 128 characters."
PW_COMMON = "This password is too common. Choose another."
PW_SIMILAR = "Your password is too similar to your email or username."
OAUTH_FAILED = "Google sign-in didn't complete. Please try again."
RATE_LIMITED = "You're going a bit fast. Please wait {seconds} seconds."
QUEUE_DOWN = (
    "Identification is temporarily unavailable. Your photo was not saved. "
    "Please try again in a few minutes."
)
STORAGE_DOWN = "We can't save photos right now. Please try again later."
DB_DOWN = "Verdant is having trouble reaching its database. Please try again shortly."
PARTIAL_RESULT = "Partial result: {provider} did not answer, so these suggestions come from {other} only."
BOTH_DOWN = (
    "We couldn't reach the identification services. "
    "Your photo is saved and we'll retry automatically."
)

BODY_TOO_LARGE = "That request is too large."
NOT_FOUND = "We couldn't find that page."
METHOD_NOT_ALLOWED = "That action isn't allowed here."
BAD_REQUEST = "That request couldn't be understood."
FORBIDDEN = "You don't have access to that page."
SERVER_ERROR = "Something went wrong on our side. Please try again."

UPLOAD_NO_PHOTO = "Choose a photo of your plant to identify."
UPLOAD_TOO_MANY_PHOTOS = "Choose at most 5 photos of one plant."
UPLOAD_BAD_DETAILS = "Check the photo details: organ must be leaf, flower, fruit, bark or auto, and a location needs a latitude (-90 to 90) and a longitude (-180 to 180)."
IDENTIFY_NO_PROVIDER = (
    "No identification service is configured. Set PLANTID_API_KEY or PLANTNET_API_KEY, "
    "or run `flask fake-providers` to try Verdant with demo results."
)
IDENTIFY_DEMO = "Demo result from local fake providers: not a real identification."
IDENTIFY_STUCK = "This identification took too long to finish. Your photo is saved: press Retry to try again."
