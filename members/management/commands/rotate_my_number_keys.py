from django.core.management.base import BaseCommand

from members.services import my_number_rotate_keys


class Command(BaseCommand):
    help = (
        "個人番号を MY_NUMBER_KEYS の先頭の鍵で暗号化し直し、照合用ハッシュを"
        " MY_NUMBER_HASH_KEY で作り直します。終わったら古い鍵を外せます。"
    )

    def handle(self, *args, **options):
        count = my_number_rotate_keys()
        self.stdout.write(
            self.style.SUCCESS(f"{count:,}件の個人番号を新しい鍵で暗号化し直しました。")
        )
