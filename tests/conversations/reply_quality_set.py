"""Labelled data for the reply-quality acceptance test.

The knowledge base belongs to Tallybox, a fictional point-of-sale SaaS that also ships card
readers. The user questions were written before the ranking was tuned, the way customers
actually type: other vocabulary than the entries, short fragments, the odd typo. Keeping them
out of the entry wording is what makes the accuracy figure mean something.
"""

from botyard.conversations.ranking import Document

KNOWLEDGE_BASE: tuple[Document, ...] = (
    Document(
        "shipping-time",
        "How long does shipping take for the card reader?",
        "Card readers leave our warehouse within one business day and arrive in 3-5 business "
        "days in the EU and the US. Express delivery in 1-2 days can be chosen at checkout.",
        ("shipping", "delivery", "hardware"),
    ),
    Document(
        "shipping-countries",
        "Which countries do you ship to?",
        "We ship hardware to the EU, the UK, the US, Canada and Australia. The software itself "
        "works in every country.",
        ("shipping", "international"),
    ),
    Document(
        "order-tracking",
        "How can I track my order?",
        "As soon as your reader leaves the warehouse we email you a tracking number. The parcel "
        "status is also shown under Settings > Hardware > Orders.",
        ("order", "tracking", "parcel"),
    ),
    Document(
        "refund-policy",
        "What is your refund policy?",
        "Subscriptions are refunded in full if you ask within 30 days of your first payment. "
        "After that you can cancel at any time and will not be charged for the next period.",
        ("refund", "money back", "guarantee"),
    ),
    Document(
        "return-hardware",
        "How do I return a card reader?",
        "Unused card readers can be returned within 30 days. Request a prepaid return label "
        "under Settings > Hardware > Returns and drop the box at any post office.",
        ("return", "hardware", "reader"),
    ),
    Document(
        "pricing-plans",
        "How much does Tallybox cost?",
        "Starter is free for up to 50 sales a month, Pro is 29 EUR per month and Business is "
        "79 EUR per month per location. Paying yearly saves 20%.",
        ("pricing", "plans"),
    ),
    Document(
        "free-trial",
        "Is there a free trial?",
        "Every paid plan starts with a 14-day free trial. No credit card is required.",
        ("trial",),
    ),
    Document(
        "change-plan",
        "How do I upgrade or downgrade my plan?",
        "Open Settings > Billing > Plan and pick another plan. Upgrades apply immediately and "
        "are prorated; downgrades take effect on your next billing date.",
        ("billing", "plan", "upgrade", "downgrade"),
    ),
    Document(
        "cancel-subscription",
        "How do I cancel my subscription?",
        "Open Settings > Billing and click Cancel subscription. Your account stays active until "
        "the end of the period you have paid for.",
        ("cancel", "subscription", "billing"),
    ),
    Document(
        "payment-methods",
        "Which payment methods do you accept?",
        "We accept Visa, Mastercard, American Express, SEPA direct debit and PayPal. Business "
        "customers on yearly billing can also pay by bank transfer.",
        ("payment", "card", "paypal"),
    ),
    Document(
        "invoices",
        "Where can I download my invoices?",
        "Every invoice is available as a PDF under Settings > Billing > Invoices. Add your VAT "
        "number there and it will be printed on all future invoices.",
        ("invoice", "vat", "billing"),
    ),
    Document(
        "password-reset",
        "How do I reset my password?",
        "Click 'Forgot password?' on the login page and enter your email address. We send you "
        "a reset link that is valid for one hour.",
        ("password", "login", "account"),
    ),
    Document(
        "login-problems",
        "I can't log in to my account",
        "Make sure you use the email address you signed up with, that Caps Lock is off and that "
        "cookies are enabled. If your company uses single sign-on, log in through its portal.",
        ("login", "sign in", "account"),
    ),
    Document(
        "two-factor",
        "How do I enable two-factor authentication?",
        "Open Settings > Security and switch on two-factor authentication, then scan the QR "
        "code with an authenticator app such as Google Authenticator or 1Password.",
        ("2fa", "security"),
    ),
    Document(
        "delete-account",
        "How do I delete my account?",
        "The account owner can delete the account under Settings > Account > Delete account. "
        "All data is erased permanently after 30 days.",
        ("delete", "account", "gdpr"),
    ),
    Document(
        "export-data",
        "How can I export my data?",
        "Open Settings > Data > Export to download your sales, products and customers as CSV or "
        "Excel files.",
        ("export", "csv", "data"),
    ),
    Document(
        "api-keys",
        "How do I create an API key?",
        "Open Settings > Developers > API keys and click New key. The key is shown only once, "
        "so store it somewhere safe. Keys can be revoked at any time.",
        ("api", "developers"),
    ),
    Document(
        "api-rate-limits",
        "What are the API rate limits?",
        "The API allows 100 requests per minute per key on Pro and 1000 on Business. Requests "
        "over the limit get HTTP status 429.",
        ("api", "rate limit", "developers"),
    ),
    Document(
        "opening-hours",
        "What are your support opening hours?",
        "Our support team is available Monday to Friday from 8:00 to 20:00 CET and on Saturday "
        "from 9:00 to 14:00.",
        ("hours", "support"),
    ),
    Document(
        "contact-support",
        "How can I contact customer support?",
        "Write to support@tallybox.example, use the chat in the app, or call +44 20 7946 0000 "
        "during opening hours.",
        ("contact", "support", "phone"),
    ),
    Document(
        "offline-mode",
        "Does Tallybox work offline?",
        "Yes. The app keeps taking cash and card payments while offline and syncs your sales "
        "as soon as the connection is back.",
        ("offline", "internet", "sync"),
    ),
    Document(
        "add-staff",
        "How do I add employees to my account?",
        "Open Settings > Team and invite people by email. Each person gets the role Cashier, "
        "Manager or Admin.",
        ("team", "staff", "roles"),
    ),
    Document(
        "receipt-printer",
        "Which receipt printers are supported?",
        "Tallybox works with the Epson TM-m30 and Star TSP143 printers over USB, Bluetooth or "
        "the network.",
        ("printer", "hardware", "receipt"),
    ),
    Document(
        "data-security",
        "Is my data secure?",
        "All data is encrypted in transit and at rest and stored in EU data centres. Tallybox "
        "is GDPR compliant.",
        ("security", "privacy", "gdpr"),
    ),
    Document(
        "change-email",
        "How do I change the email address on my account?",
        "Open Settings > Profile, enter the new address and confirm it with the link we send "
        "to it.",
        ("email", "profile", "account"),
    ),
    Document(
        "card-fees",
        "What are the card transaction fees?",
        "Card payments cost 1.4% + 0.10 EUR per transaction for EU cards and 2.6% for cards "
        "issued outside the EU. There is no monthly minimum.",
        ("fees", "transactions", "payments"),
    ),
)

# (user question, id of the entry that answers it)
LABELLED_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("when will my card reader arrive?", "shipping-time"),
    ("how many days for delivery", "shipping-time"),
    ("do you deliver to canada?", "shipping-countries"),
    ("can I get the reader sent to australia", "shipping-countries"),
    ("where is my package??", "order-tracking"),
    ("i never got a tracking number for my order", "order-tracking"),
    ("can I get my money back", "refund-policy"),
    ("I want a refund", "refund-policy"),
    ("the reader isn't for me, can I send it back?", "return-hardware"),
    ("how to send back the device", "return-hardware"),
    ("what's the price", "pricing-plans"),
    ("how expensive is the pro plan per month", "pricing-plans"),
    ("can i try it before paying", "free-trial"),
    ("do you have a trial period", "free-trial"),
    ("switch to the business plan", "change-plan"),
    ("I'd like to downgrade to starter", "change-plan"),
    ("I want to stop my subscription", "cancel-subscription"),
    ("how do i terminate my contract", "cancel-subscription"),
    ("can I pay with paypal", "payment-methods"),
    ("do you take amex?", "payment-methods"),
    ("need an invoice with our VAT number on it", "invoices"),
    ("where are my bills for accounting", "invoices"),
    ("forgot my password", "password-reset"),
    ("how can i change my pasword", "password-reset"),
    ("cant sign in", "login-problems"),
    ("logging in doesn't work", "login-problems"),
    ("how to set up 2FA", "two-factor"),
    ("can I use google authenticator?", "two-factor"),
    ("please remove my account and all my data", "delete-account"),
    ("how do I close my account permanently", "delete-account"),
    ("can I download all my sales into excel", "export-data"),
    ("get a csv of my customers", "export-data"),
    ("where do i get an api token", "api-keys"),
    ("generate new api key", "api-keys"),
    ("I'm getting 429 errors from the API", "api-rate-limits"),
    ("how many api requests can i make per minute", "api-rate-limits"),
    ("when is your support open", "opening-hours"),
    ("are you open on saturdays?", "opening-hours"),
    ("what's your phone number", "contact-support"),
    ("how do I talk to a human", "contact-support"),
    ("what happens if my wifi goes down", "offline-mode"),
    ("can I use it without internet", "offline-mode"),
    ("how to give my staff access", "add-staff"),
    ("invite a new cashier", "add-staff"),
    ("does it work with my epson printer", "receipt-printer"),
    ("is my customers data encrypted", "data-security"),
    ("are you gdpr compliant", "data-security"),
    ("update my e-mail address", "change-email"),
    ("how much do you charge per card payment", "card-fees"),
    ("what percentage do you take on transactions", "card-fees"),
)

# Questions the bot has no entry for: it must fall back instead of answering.
UNRELATED_QUESTIONS: tuple[str, ...] = (
    "what's the weather like in paris tomorrow",
    "who won the champions league final",
    "how do i make pancakes",
    "recommend a good movie for tonight",
    "what is the capital of australia",
    "tell me a joke",
    "how tall is mount everest",
    "best pizza recipe with pineapple",
    "is it going to rain this weekend",
    "what time does the football game start",
    "how do i fix a flat tyre on my bike",
    "translate hello into japanese",
    "who is the president of france",
    "how many calories are in a banana",
    # Added after the first run: off-topic, but each shares a word with the support entries.
    "how do I reset my router",
    "pizza delivery near me",
    "what's the price of bitcoin",
    "cancel my flight",
    "my phone screen is broken",
    "when does the supermarket open",
)
