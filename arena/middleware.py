"""Basque first: the interface is in Basque unless the volunteer picks another language.

Browsers in the Basque Country usually send Spanish or French in Accept-Language; honouring it
would hide the Basque interface from most volunteers, so only the explicit choice (cookie) counts.
"""


class BasqueFirstMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
